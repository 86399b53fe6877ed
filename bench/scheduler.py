"""Scheduler benchmark: dispatch throughput and lateness of the real `python -m services.scheduler`.

(a) 100,000 active tasks all due at once: time until every one has its job queued, and tasks/s.
(b) 10,000 tasks every 30 s for 3 minutes, their slots spread over the interval as tasks created
    at different moments would be: lateness (job enqueue time - slot time) p50/p95/p99.

Runs against the servers of DATABASE_URL / REDIS_URL in a database and Redis prefix of its own,
removed at the end. `make bench-scheduler`; `--quick` shrinks both parts for a smoke run.
"""

import argparse
import asyncio
import os
import pickle
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import migrate
from shared.db import create_engine, create_session_factory
from shared.models import Task, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

POLL_SECONDS = 0.02
JOB_KEY_PREFIX = "arq:job:"


@dataclass(frozen=True)
class Bench:
    """Where one benchmark run keeps its data."""

    settings: Settings
    engine: AsyncEngine
    redis: Redis
    keys: RedisKeys


@asynccontextmanager
async def bench_environment() -> AsyncIterator[Bench]:
    """A migrated database and a Redis prefix of this run's own, removed afterwards."""
    base = Settings()
    run_id = uuid.uuid4().hex[:8]
    database_url = (
        make_url(base.database_url)
        .set(database=f"im_bench_scheduler_{run_id}")
        .render_as_string(hide_password=False)
    )
    settings = base.model_copy(
        update={"database_url": database_url, "redis_prefix": f"imbench.{run_id}"}
    )
    await asyncio.to_thread(migrate.upgrade, database_url)
    engine = create_engine(settings)
    redis = Redis.from_url(settings.redis_url)
    bench = Bench(settings, engine, redis, RedisKeys(settings.redis_prefix))
    try:
        yield bench
    finally:
        await clear_queue(bench)
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP DATABASE `{make_url(database_url).database}`"))
        await engine.dispose()
        await redis.aclose()


async def queued_job_ids(bench: Bench) -> list[str]:
    """The ids of every job in the run's collector queue."""
    return [
        job_id.decode() for job_id in await bench.redis.zrange(bench.keys.collector_queue, 0, -1)
    ]


async def clear_queue(bench: Bench) -> None:
    """Delete the queued jobs and every key under the run's prefix."""
    job_ids = [
        job_id.decode() for job_id in await bench.redis.zrange(bench.keys.collector_queue, 0, -1)
    ]
    for start in range(0, len(job_ids), 10_000):
        await bench.redis.delete(
            *(JOB_KEY_PREFIX + job_id for job_id in job_ids[start : start + 10_000])
        )
    stale = [key async for key in bench.redis.scan_iter(match=f"{bench.keys.prefix}:*")]
    if stale:
        await bench.redis.delete(*stale)


async def insert_tasks(
    bench: Bench, slots: list[datetime], *, interval_seconds: int
) -> dict[str, datetime]:
    """Replace every task by one active influencer task per slot, due at it; their first slots."""
    async with create_session_factory(bench.engine).begin() as session:
        await session.execute(delete(Task))
        task_ids = await TaskRepository(session).create_many(
            [f"bench_{index}" for index in range(len(slots))],
            interval_seconds=interval_seconds,
            next_run_at=slots,
            now=utcnow(),
        )
    return dict(zip(task_ids, slots, strict=True))


@contextmanager
def scheduler_process(bench: Bench) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m services.scheduler` on the run's database and prefix, stopped with SIGTERM."""
    env = {
        **os.environ,
        "DATABASE_URL": bench.settings.database_url,
        "REDIS_URL": bench.settings.redis_url,
        "REDIS_PREFIX": bench.settings.redis_prefix,
        "SCHEDULER_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.scheduler"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        if process.wait(timeout=60) != 0:
            raise RuntimeError(f"the scheduler exited with {process.returncode} on SIGTERM")


async def due_tasks(bench: Bench) -> int:
    """How many active tasks are due right now."""
    async with bench.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(Task).where(Task.next_run_at <= utcnow())
        )
    return int(count or 0)


async def queued_jobs(bench: Bench) -> list[tuple[str, float, datetime]]:
    """Every queued job as (task id, enqueue time, slot), read from arq's own records."""
    job_ids = [
        job_id.decode() for job_id in await bench.redis.zrange(bench.keys.collector_queue, 0, -1)
    ]
    jobs = []
    for start in range(0, len(job_ids), 5_000):
        chunk = job_ids[start : start + 5_000]
        for payload in await bench.redis.mget([JOB_KEY_PREFIX + job_id for job_id in chunk]):
            job = pickle.loads(payload)  # noqa: S301 - arq's own job records in our own Redis
            task_id, scheduled_for = job["a"]
            jobs.append((task_id, job["et"] / 1000, scheduled_for))
    return jobs


async def throughput(bench: Bench, tasks: int) -> dict[str, float]:
    """Part (a): every task due at once; seconds until all are queued, and tasks/s."""
    due = utcnow() - timedelta(seconds=1)
    await insert_tasks(bench, [due] * tasks, interval_seconds=3600)
    started = time.perf_counter()
    first_job_at = None
    with scheduler_process(bench):
        while (queued := await bench.redis.zcard(bench.keys.collector_queue)) < tasks:
            if queued and first_job_at is None:
                first_job_at = time.perf_counter()
            await asyncio.sleep(POLL_SECONDS)
        finished = time.perf_counter()
    assert first_job_at is not None
    jobs = await queued_jobs(bench)
    enqueue_times = [enqueued for _, enqueued, _ in jobs]
    if len({task_id for task_id, _, _ in jobs}) != tasks or await due_tasks(bench):
        raise RuntimeError("not every task was dispatched exactly once and advanced")
    window = max(enqueue_times) - min(enqueue_times)
    await clear_queue(bench)
    return {
        "tasks": tasks,
        "seconds_from_process_start": finished - started,
        "seconds_first_to_last_job": window,
        "tasks_per_second": tasks / window,
    }


async def lateness(bench: Bench, tasks: int, interval: int, duration: float) -> dict[str, float]:
    """Part (b): tasks spread over one interval, run for `duration` s; lateness percentiles."""
    first = utcnow() + timedelta(seconds=3)
    slots = [first + timedelta(seconds=interval * index / tasks) for index in range(tasks)]
    first_slots = await insert_tasks(bench, slots, interval_seconds=interval)
    with scheduler_process(bench):
        await asyncio.sleep(duration)
    jobs = await queued_jobs(bench)
    slots_by_task: dict[str, list[datetime]] = {task_id: [] for task_id in first_slots}
    for task_id, _, scheduled_for in jobs:
        slots_by_task[task_id].append(scheduled_for)
    # Each task ran for exactly its first slots on its grid: none skipped, none twice.
    whole_grid = sum(
        1
        for task_id, ran in slots_by_task.items()
        if sorted(ran)
        == [first_slots[task_id] + step * timedelta(seconds=interval) for step in range(len(ran))]
        and len(ran) >= duration // interval - 1
    )
    late = sorted(enqueued - scheduled_for.timestamp() for _, enqueued, scheduled_for in jobs)
    cuts = statistics.quantiles(late, n=100)
    return {
        "tasks": tasks,
        "interval_seconds": interval,
        "duration_seconds": duration,
        "jobs": len(jobs),
        "tasks_on_their_grid_without_gaps": whole_grid,
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "max": late[-1],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    sizes = (5_000, 500, 30, 35.0) if args.quick else (100_000, 10_000, 30, 180.0)
    print(f"load average before: {os.getloadavg()}", flush=True)
    async with bench_environment() as bench:
        result = await throughput(bench, sizes[0])
        print(f"(a) throughput: {result}", flush=True)
        result = await lateness(bench, sizes[1], sizes[2], sizes[3])
        print(f"(b) lateness: {result}", flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
