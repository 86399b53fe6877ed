"""Export benchmark: 1,000,000 points of one profile exported by the real `python -m services.api`.

One influencer task with N points (default 1,000,000, one a minute, a bio with a comma and
quotes) in a database of the run's own. Each round downloads the CSV and then the NDJSON export
over HTTP, checks that every point arrived, and records points/s (request sent to last byte),
the API process's CPU per 1,000 points and its resident memory (sampled every 20 ms during the
download, and its VmHWM). A ceiling for comparison: the same keyset pages read in this process
through the repository with nothing rendered or sent, which is what the machine's MySQL and
driver allow. `make bench-export`.
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from shared.db import create_engine, create_session_factory
from shared.models import TaskType, utcnow
from shared.repositories.history import INFLUENCER_HISTORY, HistoryRepository, PointKey
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from api import bench_settings, cpu_seconds, free_port, machine, server

PAGE = 5000
BIO = 'Photographer, "explorer" and storyteller 🌍 — natgeo.com/stories'
SAMPLE_SECONDS = 0.02


def memory_mib(pid: int, field: str) -> float:
    """A VmRSS / VmHWM line of the process's status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc status")


async def seed(settings: Settings, points: int) -> str:
    """The task, and its points written by MySQL itself (one INSERT … SELECT over a digits
    table: a million rows in seconds, where a million inserts from here would take minutes)."""
    engine = create_engine(settings, pool_size=1)
    try:
        async with create_session_factory(engine).begin() as session:
            task = await TaskRepository(session).create(
                TaskType.INFLUENCER, "natgeo", interval_seconds=86_400, now=utcnow()
            )
        digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
        powers = range(len(str(points - 1)))
        joined = ", ".join(f"({digits}) AS p{k}" for k in powers)
        number = " + ".join(f"p{k}.d * {10**k}" for k in powers)
        async with engine.begin() as conn:
            # Only this module's own numbers and names go into the statement.
            await conn.execute(
                text(
                    "INSERT INTO influencer_metrics_history (task_id, recorded_at, user_id, "  # noqa: S608
                    "username, bio, follower_count, following_count, post_count, scheduled_for, "
                    "source) SELECT :task_id, TIMESTAMPADD(MINUTE, n, '2025-01-01'), 787132, "
                    "'natgeo', :bio, 280000000 + n, 150, IF(n % 10 = 0, NULL, 30000), "
                    "TIMESTAMPADD(MINUTE, n, '2025-01-01'), 'live' "
                    f"FROM (SELECT {number} AS n FROM {joined}) AS numbers WHERE n < :points"
                ),
                {"task_id": task.id, "bio": BIO, "points": points},
            )
        return task.id
    finally:
        await engine.dispose()


async def ceiling(settings: Settings, task_id: str) -> dict[str, float]:
    """Points/s of the keyset pages alone, read in this process and thrown away."""
    engine = create_engine(settings, pool_size=1)
    sessions = create_session_factory(engine)
    read = 0
    after: PointKey | None = None
    started = time.perf_counter()
    try:
        while True:
            async with sessions() as session:
                rows, after = await HistoryRepository(session).oldest_points_after(
                    INFLUENCER_HISTORY, task_id, after=after, limit=PAGE
                )
            read += len(rows)
            if after is None:
                break
    finally:
        await engine.dispose()
    return {"points": read, "points_per_second": round(read / (time.perf_counter() - started))}


async def download(url: str, pid: int, export_format: str, points: int) -> dict[str, Any]:
    """One export over HTTP, with the server's memory sampled meanwhile."""
    peak_rss = 0.0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak_rss
        while not done.is_set():
            peak_rss = max(peak_rss, memory_mib(pid, "VmRSS"))
            await asyncio.sleep(SAMPLE_SECONDS)

    sampler = asyncio.create_task(sample())
    cpu_before = cpu_seconds(pid)
    received = lines = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(timeout=600) as client,
        client.stream(
            "GET",
            f"{url}/api/v1/instagram/influencer_monitor/user_history/natgeo/export",
            params={"format": export_format},
        ) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            received += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    done.set()
    await sampler
    cpu = cpu_seconds(pid) - cpu_before
    # A CSV bio holds no line break here: one line per point, plus the header.
    exported = lines - (1 if export_format == "csv" else 0)
    if exported != points:
        raise RuntimeError(f"{export_format}: {exported} points arrived, not {points}")
    return {
        "format": export_format,
        "seconds": round(elapsed, 2),
        "points_per_second": round(points / elapsed),
        "megabytes": round(received / 1e6, 1),
        "api_cpu_ms_per_1000_points": round(1e6 * cpu / points, 2),
        "api_peak_rss_mib_sampled": round(peak_rss, 1),
    }


async def benchmark(points: int, rounds: int) -> dict[str, Any]:
    async with bench_settings() as settings:
        seeded = time.perf_counter()
        task_id = await seed(settings, points)
        print(f"seeded {points} points in {time.perf_counter() - seeded:.1f} s", flush=True)
        port = free_port()
        environment = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "REDIS_PREFIX": settings.redis_prefix,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(port),
            "API_AUTH": "disabled",
        }
        results: list[dict[str, Any]] = []
        ceilings = []
        with server([sys.executable, "-m", "services.api"], port, environment) as api:
            idle_rss = memory_mib(api.pid, "VmRSS")
            for _ in range(rounds):
                ceilings.append(await ceiling(settings, task_id))
                for export_format in ("csv", "ndjson"):
                    result = await download(api.url, api.pid, export_format, points)
                    print(result, flush=True)
                    results.append(result)
            peak = memory_mib(api.pid, "VmHWM")
        return {
            "points": points,
            "api_rss_mib_before": round(idle_rss, 1),
            "api_vmhwm_mib": round(peak, 1),
            "ceilings": ceilings,
            "runs": results,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points of the profile")
    parser.add_argument("--rounds", type=int, default=3, help="downloads of each format")
    args = parser.parse_args()
    print(machine(), flush=True)
    print(asyncio.run(benchmark(args.points, args.rounds)), flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
