"""`python -m bench`: every benchmark in turn, each in a fresh process, then one table of figures.

    python -m bench                      # all of them (about 7 minutes)
    python -m bench in_flight ack_latency  # some of them
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import code_version, machine

ROOT = Path(__file__).resolve().parent.parent
# name -> the most seconds it may take before it is stopped
BENCHMARKS = {
    "ack_latency": 180,
    "callback_to_post": 180,
    "status_calls": 300,
    "in_flight": 240,
    "callback_throughput": 240,
    "large_delivery": 240,
    "history": 300,
    "scale": 420,
}


def run_one(name: str, limit: int, folder: Path) -> list[dict[str, str]]:
    summary = folder / f"{name}.json"
    print(f"\n===== python -m bench.{name} =====", flush=True)
    started = time.monotonic()
    try:
        finished = subprocess.run([sys.executable, "-m", f"bench.{name}", "--summary-json", str(summary)],
                                  cwd=ROOT, timeout=limit, check=False)
        problem = f"exit code {finished.returncode}" if finished.returncode else ""
    except subprocess.TimeoutExpired:
        problem = f"stopped after {limit} s"
    print(f"===== {name}: {time.monotonic() - started:.0f} s =====", flush=True)
    if not problem and summary.exists():
        rows: list[dict[str, str]] = json.loads(summary.read_text())
        return rows
    return [{"figure": name, "target": "—", "measured": f"no figures: the benchmark failed ({problem})",
             "verdict": "failed"}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="name", help=f"benchmarks to run: {', '.join(BENCHMARKS)} "
                        "(default: all)")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    names = args.names or list(BENCHMARKS)
    started = time.monotonic()
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-summary-") as folder:
        for name in names:
            rows.extend(run_one(name, BENCHMARKS[name], Path(folder)))
    where = machine()
    print(f"\n## Performance figures ({time.monotonic() - started:.0f} s; {code_version()})\n")
    print("| figure | target | measured | machine |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        mark = {"met": "met", "n/a": "informational"}.get(row["verdict"], f"**{row['verdict'].upper()}**")
        print(f"| {row['figure']} | {row['target']} | {row['measured']} — {mark} | {where} |")
    missed = [row["figure"] for row in rows if row["verdict"] not in ("met", "n/a")]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} rows met or informational"
          + (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
