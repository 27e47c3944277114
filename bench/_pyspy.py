"""Sampling this very process with py-spy (`pip install py-spy`) while a benchmark measures, and the tables
made from what it saw: functions by their own time on the event loop's thread, and that time by package.

py-spy attaches to the benchmark's own process id just before the part measured and is stopped (SIGINT)
after it, so start-up and warm-up are not in the profile. It samples without pausing the process
(`--nonblocking`), so what it measures runs at about its usual speed; idle time (the loop waiting in epoll)
is not sampled. The collapsed stacks (one line a stack, then its sample count) can be kept with `raw`, for
flamegraph.pl or speedscope.app.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

ATTACH_SECONDS = 1.0  # py-spy needs a moment to attach before the first sample
STOP_TIMEOUT = 30.0  # seconds py-spy may take to write its file once stopped
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
OUR_PACKAGES = ("bot", "cogs", "storage", "tests", "bench")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    return found


class Sampler:
    """`async with Sampler(raw, rate):` samples this process into `raw` for the duration of the block."""

    def __init__(self, raw: Path, rate: int = 1000) -> None:
        self.raw = raw
        self.rate = rate
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Sampler:
        self._process = await asyncio.create_subprocess_exec(
            py_spy(), "record", "--pid", str(os.getpid()), "--rate", str(self.rate), "--format", "raw",
            "--threads", "--nonblocking", "--output", str(self.raw),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        await asyncio.sleep(ATTACH_SECONDS)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGINT)
        _, errors = await asyncio.wait_for(self._process.communicate(), STOP_TIMEOUT)
        if self._process.returncode not in (0, -signal.SIGINT) or not self.raw.exists():
            sys.exit(f"py-spy failed: {errors.decode(errors='replace')}")


def short_file(path: str) -> str:
    """A frame's file without the install prefix: `discord/state.py`, `bot/core/engine.py`."""
    for marker in ("site-packages/", "/lib/python3", f"{Path.cwd()}/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return path.split("/", 1)[1] if path.startswith(".") and "/" in path else path


def package_of(file: str) -> str:
    parts = file.split("/")
    if parts[0] in OUR_PACKAGES:
        return "/".join(parts[:2]) if parts[0] == "bot" and len(parts) > 2 else parts[0]
    if re.match(r"^\d+\.\d+$", parts[0]):  # the standard library: 11/asyncio/tasks.py after the prefix
        parts = parts[1:]
    return parts[0].removesuffix(".py") if parts else file


def stacks(raw: Path, main_thread_only: bool = True) -> list[tuple[list[str], int]]:
    """(frames outermost first, samples) for each stack py-spy saw; by default only the event loop's thread
    (the process's first thread, MainThread: py-spy's `--threads` names each stack's thread first)."""
    found = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        if frames and (not main_thread_only or thread.endswith("): MainThread")):
            found.append((frames, int(count)))
    return found


def summarise(raw: Path, top: int = 10, main_thread_only: bool = True) -> str:
    """Markdown: the top functions by their own time, and own time by package."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for frames, count in stacks(raw, main_thread_only):
        total += count
        match = FRAME.match(frames[-1])
        function, file = (match["function"], short_file(match["file"])) if match else (frames[-1], "?")
        own[f"{function} ({file})"] += count
        packages[package_of(file)] += count
    where = "on the event loop's thread" if main_thread_only else "on all threads"
    lines = [f"{total} samples {where}", "", "| # | function (file) | own time |", "| --- | --- | --- |"]
    lines += [f"| {rank} | `{name}` | {count / max(total, 1):.1%} |"
              for rank, (name, count) in enumerate(own.most_common(top), 1)]
    lines += ["", "| package | own time |", "| --- | --- |"]
    lines += [f"| `{name}` | {count / max(total, 1):.1%} |" for name, count in packages.most_common(top)]
    return "\n".join(lines)
