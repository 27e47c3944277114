"""SQLite against PostgreSQL through the same stores: 1,000 jobs inserted with their charge, then 1,000
transitions, each as the bot does it (one unit of work each, 50 at a time). PostgreSQL is the throwaway
server tests/postgres.py starts (the machine's initdb and pg_ctl; durability off, as in the tests, so its
figures are for the work itself, not the disk). Prints the figures; asserts nothing.

    .venv/bin/python -m bench.store_backends [--jobs N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.core.models import Job, JobStatus
from storage.backends import Stores, open_stores
from tests import postgres
from tests.contract.parts import make_job, quota_service

CONCURRENCY = 50


async def measure(stores: Stores, count: int) -> tuple[float, float]:
    quotas = quota_service(stores, default_user_quota=10**9, max_active_jobs=10**9)
    jobs = [make_job(user_id=3000 + i % 100, duration=5) for i in range(count)]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def insert(job: Job) -> None:
        async with gate:
            await stores.jobs.insert(job, quotas.charge_for(job))

    async def move(job: Job) -> None:
        async with gate:
            await stores.jobs.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, job.created_at,
                                         provider_job_id=f"p-{job.id}")

    started = time.perf_counter()
    await asyncio.gather(*[insert(job) for job in jobs])
    inserted = time.perf_counter()
    await asyncio.gather(*[move(job) for job in jobs])
    moved = time.perf_counter()
    return inserted - started, moved - inserted


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        sqlite = await open_stores(database_path=Path(folder) / "bench.sqlite3", database_url=None)
        try:
            figures = {"SQLite (WAL, group commit)": await measure(sqlite, count)}
        finally:
            await sqlite.close()
    server = postgres.PostgresCluster(postgres.skip_or_fail_without_server())
    server.start()
    try:
        pg = await open_stores(database_path=Path("unused"), database_url=server.url(server.new_database()))
        try:
            figures["PostgreSQL (pool of 10)"] = await measure(pg, count)
        finally:
            await pg.close()
    finally:
        server.stop()
    print(f"| backend | {count} charged inserts | per second | {count} transitions | per second |")
    print("| --- | --- | --- | --- | --- |")
    for name, (inserts, moves) in figures.items():
        print(f"| {name} | {inserts:.2f} s | {count / inserts:,.0f} | {moves:.2f} s | {count / moves:,.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    asyncio.run(main(parser.parse_args().jobs))
