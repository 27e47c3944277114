"""A throwaway PostgreSQL server for the tests, and a fresh database for each test that asks for one.

The server is the machine's own PostgreSQL (initdb and pg_ctl on PATH, or under /usr/lib/postgresql/*/bin),
started once per test session the first time a test needs it: a new cluster in a temporary folder, trust
authentication, listening on a unix socket in that folder and on 127.0.0.1 at a free port, with durability
off (a test database is thrown away). It is stopped and removed at the end of the session (tests/conftest.py).

Each test gets a database of its own, copied from a template that already holds every migration
(`CREATE DATABASE ... TEMPLATE`), and dropped when the test ends.

Without the server binaries the PostgreSQL tests are skipped with `SKIP_REASON`, unless REQUIRE_POSTGRES=1
(CI), where they fail. TEST_DATABASE=postgres runs the end-to-end suite (tests/harness.py) on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

SKIP_REASON = "PostgreSQL server binaries (initdb, pg_ctl) not found: PostgreSQL tests skipped"
REQUIRE_VARIABLE = "REQUIRE_POSTGRES"
BACKEND_VARIABLE = "TEST_DATABASE"
SERVER_TIMEOUT_SECONDS = 60
TEMPLATE = "kling_template"
SQLITE_ONLY = re.compile(r"\bPRAGMA\b|\b(CREATE|DROP) TRIGGER\b", re.IGNORECASE)
SUPERUSER = "postgres"


def e2e_on_postgres() -> bool:
    """TEST_DATABASE=postgres: the bots the tests start use PostgreSQL (else SQLite files)."""
    name = os.environ.get(BACKEND_VARIABLE, "").strip().lower() or "sqlite"
    if name not in ("sqlite", "postgres"):
        raise RuntimeError(f"{BACKEND_VARIABLE}={name!r}: use sqlite or postgres")
    return name == "postgres"


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_VARIABLE, "").strip() == "1"


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).resolve().parent == Path(pg_ctl).resolve().parent:
        return Path(initdb).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    for folder in versions:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def skip_or_fail_without_server() -> Path:
    """The binaries' folder; else skip the test (fail it under REQUIRE_POSTGRES=1)."""
    found = server_binaries()
    if found is None:
        if postgres_required():
            pytest.fail(f"{SKIP_REASON}, but {REQUIRE_VARIABLE}=1 requires them", pytrace=False)
        pytest.skip(SKIP_REASON)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _on_own_loop(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to the end on a loop of its own, in a thread: callable from sync code and from inside a
    running event loop alike (setting up a database is a few milliseconds)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(make()))  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=target, name="postgres-setup")
    thread.start()
    thread.join(SERVER_TIMEOUT_SECONDS)
    if thread.is_alive():
        raise TimeoutError("setting up a PostgreSQL test database took too long")
    if failure:
        raise failure[0]
    return result[0]


class PostgresCluster:
    """One initdb'd cluster under a temporary folder, run by pg_ctl."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="kling-bot-postgres-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        # initdb and postgres refuse to run as root: as root, the cluster belongs to an ordinary user.
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = next((name for name in ("postgres", "nobody") if _exists(name)), None)
            if self._user is None:
                raise RuntimeError("running as root and neither a postgres nor a nobody user exists to run PostgreSQL")
            entry = pwd.getpwnam(self._user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.binaries / args[0]), *args[1:]]
        options: dict[str, Any] = {}
        if self._user:
            options = {"user": self._user, "group": pwd.getpwnam(self._user).pw_gid, "extra_groups": []}
        finished = subprocess.run(command, capture_output=True, text=True, timeout=SERVER_TIMEOUT_SECONDS,
                                  cwd=self.folder, **options)
        if finished.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({finished.returncode}): {finished.stderr.strip()}\n{tail}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'", "port": str(self.port), "unix_socket_directories": f"'{self.folder}'",
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300",
            "shared_buffers": "64MB",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._run("pg_ctl", "start", "-w", "-t", str(SERVER_TIMEOUT_SECONDS), "-D", str(self.data),
                  "-l", str(self.folder / "server.log"))
        _on_own_loop(self._make_template)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-t", str(SERVER_TIMEOUT_SECONDS),
                          "-D", str(self.data))
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    async def _admin(self, statement: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.url("postgres"), timeout=SERVER_TIMEOUT_SECONDS)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def _make_template(self) -> None:
        from storage.postgres.database import PostgresDatabase

        await self._admin(f"CREATE DATABASE {TEMPLATE}")
        database = await PostgresDatabase.open(self.url(TEMPLATE), min_size=1, max_size=1)
        await database.close()

    def new_database(self, *, migrated: bool = True) -> str:
        """A database of its own: a copy of the migrated template, or empty (`migrated=False`)."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        template = TEMPLATE if migrated else "template0"
        _on_own_loop(lambda: self._admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
        return name

    def drop_database(self, name: str) -> None:
        _on_own_loop(lambda: self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


# -- the session's server and the tests' databases -------------------------------------------------------
_cluster: PostgresCluster | None = None
_by_folder: dict[Path, str] = {}  # a test's tmp_path -> its database (a bot restarted in a test finds its data)
_created: list[str] = []


def cluster() -> PostgresCluster:
    """The session's server, started on first use; skips (or fails) the test without the binaries."""
    global _cluster
    binaries = skip_or_fail_without_server()
    if _cluster is None:
        started = PostgresCluster(binaries)
        try:
            started.start()
        except BaseException:
            started.stop()
            raise
        _cluster = started
    return _cluster


def database_url(folder: Path | None = None, *, migrated: bool = True) -> str:
    """A fresh database for the running test; the same one again for the same `folder` (a test's tmp_path)."""
    server = cluster()
    if folder is not None and folder in _by_folder:
        return server.url(_by_folder[folder])
    name = server.new_database(migrated=migrated)
    _created.append(name)
    if folder is not None:
        _by_folder[folder] = name
    return server.url(name)


def drop_test_databases() -> None:
    """After each test: its databases go (WITH FORCE closes whatever a test left connected)."""
    if _cluster is None:
        _created.clear()
        _by_folder.clear()
        return
    while _created:
        name = _created.pop()
        with contextlib.suppress(Exception):  # a failed drop must not fail the next test; the cluster goes anyway
            _cluster.drop_database(name)
    _by_folder.clear()


def stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        server, _cluster = _cluster, None
        server.stop()


# -- reading and changing a test's database directly -------------------------------------------------------
def _numbered(statement: str) -> str:
    """SQLite's `?` placeholders as PostgreSQL's `$1, $2, ...` (tests write theirs for SQLite)."""
    numbers = itertools.count(1)
    parts = statement.split("?")
    return parts[0] + "".join(f"${next(numbers)}{part}" for part in parts[1:])


def _as_sqlite_gives_it(value: Any) -> Any:
    """Values as SQLite's rows hold them, so one assertion fits both: times as the stores' ISO text, flags as
    0 and 1, dates as ISO text."""
    from datetime import date, datetime

    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


async def run_sql(url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """One statement on the test's PostgreSQL database, rows as tuples of SQLite-like values."""
    import asyncpg

    sqlite_only = SQLITE_ONLY.search(statement)
    if sqlite_only:  # a test's own trigger or PRAGMA, written for SQLite: what it checks is checked there
        skip_unless_sqlite(f"the test changes the database with SQLite's {sqlite_only.group(0).upper()}")
    connection = await asyncpg.connect(url, timeout=SERVER_TIMEOUT_SECONDS)
    try:
        rows = await connection.fetch(_numbered(statement), *args)
    finally:
        await connection.close()
    return [tuple(_as_sqlite_gives_it(value) for value in row.values()) for row in rows]


def run_sql_sync(url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """`run_sql` for synchronous helpers (it runs on a loop of its own)."""
    return _on_own_loop(lambda: run_sql(url, statement, *args))


def skip_unless_sqlite(reason: str) -> None:
    """For a step that only means something on SQLite (its file, PRAGMAs, its trigger syntax)."""
    if e2e_on_postgres():
        pytest.skip(f"SQLite only ({reason}); TEST_DATABASE=postgres")
