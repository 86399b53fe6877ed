"""Collector benchmark: collections/s, CPU and peak memory of one `python -m services.collector`.

One collector process drains a queue of collection jobs against the sandbox (the stand-in
TikHub) answering after 100 ms, with the shared rate limiter raised out of the way. Two rounds
over the same tasks: the first collection of each task (which also learns its Instagram id),
then one more slot of each (the steady state). For each round: collections/s from the first new
history row to the last, and the collector's CPU time per collection; at the end, the process's
peak resident memory (VmHWM). Runs against the servers of DATABASE_URL / REDIS_URL in a database
and Redis prefix of its own, removed at the end. `make bench-collector`.

`--pool-ratio` (`make bench-pool`) measures the TikHub key pool instead: the same run with a real
per-key rate limit (`--rate-per-key`), once with one key and once with two, and the ratio of
their steady-state collections/s (two keys should come close to twice one).
"""

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from arq.connections import ArqRedis
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import migrate
from shared.db import create_engine, create_session_factory
from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import InfluencerMetricsHistory, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

ENQUEUE_CONCURRENCY = 50
POLL_SECONDS = 0.05
JOB_KEY_PREFIX = "arq:job:"
API_KEY = "bench-sandbox-key"
# Long enough that no job reaches its slot's deadline while the queue drains.
INTERVAL_SECONDS = 3600


@dataclass(frozen=True)
class Bench:
    """Where one run keeps its data, and the collector process under test."""

    engine: AsyncEngine
    redis: ArqRedis
    keys: RedisKeys
    task_ids: list[str]
    collector: subprocess.Popen[bytes]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process logging to `log`, stopped with SIGTERM on exit."""
    with log.open("wb") as output:
        child = subprocess.Popen(args, env={**os.environ, **env}, stdout=output, stderr=output)
        try:
            yield child
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set so far, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_for_http(url: str) -> None:
    """Return once `url` answers at all (within 30 s)."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while True:
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def insert_tasks(engine: AsyncEngine, count: int) -> list[str]:
    """`count` active influencer tasks; their ids."""
    now = utcnow()
    async with create_session_factory(engine).begin() as session:
        return await TaskRepository(session).create_many(
            [f"bench_{index}" for index in range(count)],
            interval_seconds=INTERVAL_SECONDS,
            next_run_at=[now] * count,
            now=now,
        )


async def history_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(InfluencerMetricsHistory))
    return int(count or 0)


async def run_round(bench: Bench, slot: datetime) -> dict[str, float]:
    """Queue one job per task for `slot` and time the collector draining them."""
    rows_before = await history_rows(bench.engine)
    cpu_before = cpu_seconds(bench.collector.pid)
    pending = iter(bench.task_ids)

    async def enqueue_each() -> None:
        for task_id in pending:
            await bench.redis.enqueue_job(
                COLLECT_FUNCTION,
                task_id,
                slot,
                _job_id=collect_job_id(task_id, slot),
                _queue_name=bench.keys.collector_queue,
            )

    await asyncio.gather(*(enqueue_each() for _ in range(ENQUEUE_CONCURRENCY)))
    target = rows_before + len(bench.task_ids)
    first_at, first_count = None, 0
    # Where 90 % of the round is written: the steady state, before the tail of deferred jobs
    # (which come back after a random share of the limiter's wait) trickles in.
    most = rows_before + len(bench.task_ids) * 9 // 10
    most_at, most_count = None, 0
    while (count := await history_rows(bench.engine)) < target:
        if count > rows_before and first_at is None:
            first_at, first_count = time.perf_counter(), count
        if count >= most and most_at is None:
            most_at, most_count = time.perf_counter(), count
        if bench.collector.poll() is not None:
            raise RuntimeError(f"the collector exited with {bench.collector.returncode}")
        await asyncio.sleep(POLL_SECONDS)
    finished_at = time.perf_counter()
    assert first_at is not None
    most_at, most_count = (most_at, most_count) if most_at else (finished_at, count)
    cpu = cpu_seconds(bench.collector.pid) - cpu_before
    return {
        "collections_per_second": round((count - first_count) / (finished_at - first_at), 1),
        "collections_per_second_to_90pct": round(
            (most_count - first_count) / max(most_at - first_at, 1e-9), 1
        ),
        "seconds_first_to_last_row": round(finished_at - first_at, 2),
        "collector_cpu_ms_per_collection": round(1000 * cpu / len(bench.task_ids), 2),
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    base = Settings()
    run_id = uuid.uuid4().hex[:8]
    database_url = (
        make_url(base.database_url)
        .set(database=f"im_bench_collector_{run_id}")
        .render_as_string(hide_password=False)
    )
    settings = base.model_copy(
        update={"database_url": database_url, "redis_prefix": f"imbench.{run_id}"}
    )
    keys = RedisKeys(settings.redis_prefix)
    await asyncio.to_thread(migrate.upgrade, database_url)
    engine = create_engine(settings)
    redis = ArqRedis.from_url(settings.redis_url)
    port = free_port()
    logs = Path(args.log_dir)
    first_slot = utcnow().replace(microsecond=0) - timedelta(seconds=1)
    slots = [first_slot, first_slot + timedelta(seconds=1)]
    task_ids: list[str] = []
    api_keys = [API_KEY] + [f"{API_KEY}-{n}" for n in range(2, args.keys + 1)]
    sandbox_env = {
        "SANDBOX_PORT": str(port),
        "SANDBOX_LATENCY_MS": str(args.latency_ms),
        "SANDBOX_API_KEY": API_KEY,
        "SANDBOX_API_KEYS": ",".join(api_keys[1:]),
        "SANDBOX_LOG_LEVEL": "WARNING",
    }
    collector_env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "TIKHUB_BASE_URL": f"http://127.0.0.1:{port}",
        "TIKHUB_API_KEY": API_KEY,
        "TIKHUB_API_KEYS": ",".join(api_keys[1:]),
        "TIKHUB_RATE_LIMIT_PER_SECOND": str(args.rate_per_key),
        "COLLECTOR_METRICS_PORT": "0",
        "LOG_LEVEL": args.log_level,
    }
    if args.max_jobs:
        collector_env["COLLECTOR_MAX_JOBS"] = str(args.max_jobs)
    python = sys.executable
    try:
        task_ids = await insert_tasks(engine, args.jobs)
        sandbox_command = [python, "-m", "services.sandbox"]
        collector_command = [python, "-m", "services.collector"]
        with process(sandbox_command, sandbox_env, logs / "sandbox.log") as sandbox:
            await wait_for_http(f"http://127.0.0.1:{port}/_sandbox/openapi.json")
            with process(collector_command, collector_env, logs / "collector.log") as collector:
                bench = Bench(engine, redis, keys, task_ids, collector)
                first = await run_round(bench, slots[0])
                repeat = await run_round(bench, slots[1])
                peak = peak_rss_mib(collector.pid)
                sandbox_cpu = cpu_seconds(sandbox.pid)
        return {
            "keys": args.keys,
            "rate_per_key": args.rate_per_key,
            "jobs_per_round": args.jobs,
            "latency_ms": args.latency_ms,
            "first_collections": first,
            "repeat_collections": repeat,
            "peak_rss_mib": round(peak, 1),
            "sandbox_cpu_ms_per_collection": round(500 * sandbox_cpu / args.jobs, 2),
        }
    finally:
        job_ids = [
            f"{JOB_KEY_PREFIX}{collect_job_id(task_id, slot)}"
            for task_id in task_ids
            for slot in slots
        ]
        for start in range(0, len(job_ids), 10_000):
            await redis.delete(*job_ids[start : start + 10_000])
        stale = [key async for key in redis.scan_iter(match=f"{settings.redis_prefix}:*")]
        if stale:
            await redis.delete(*stale)
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP DATABASE `{make_url(database_url).database}`"))
        await engine.dispose()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6000, help="collections per round")
    parser.add_argument("--latency-ms", type=int, default=100, help="stand-in TikHub latency")
    parser.add_argument("--max-jobs", type=int, default=0, help="COLLECTOR_MAX_JOBS override")
    parser.add_argument("--log-level", default="INFO", help="the collector's LOG_LEVEL")
    parser.add_argument("--keys", type=int, default=1, help="TikHub keys in the pool")
    parser.add_argument(
        "--rate-per-key",
        type=float,
        default=1_000_000,
        help="TIKHUB_RATE_LIMIT_PER_SECOND (default: out of the way)",
    )
    parser.add_argument(
        "--pool-ratio",
        action="store_true",
        help="run with one key, then two, at --rate-per-key; print the throughput ratio",
    )
    parser.add_argument(
        "--log-dir", default=tempfile.gettempdir(), help="where the child processes log"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    if args.pool_ratio:
        rates = []
        for keys in (1, 2):
            result = asyncio.run(run(argparse.Namespace(**{**vars(args), "keys": keys})))
            print(result, flush=True)
            rounds = [result["first_collections"], result["repeat_collections"]]
            rates.append([float(r["collections_per_second_to_90pct"]) for r in rounds])  # type: ignore[index]
        ratios = ", ".join(f"{two / one:.2f}" for one, two in zip(*rates, strict=True))
        print(f"two keys / one key (first, repeat round; to 90 %): {ratios}", flush=True)
    else:
        print(asyncio.run(run(args)), flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
