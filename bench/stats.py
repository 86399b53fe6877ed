"""Statistics benchmark: `user_stats`, `video_stats` and day-bucketed history at long histories.

Seeded in a database and Redis prefix of this run's own (removed at the end), through the
collector's own write path (rows and their roll-ups together):

- a profile with 60 days of 30 s history (172,800 rows), read with `user_stats`;
- a post with the same 172,800 rows, read with `video_stats`;
- a profile with a year of 10-minute history (52,560 rows), read with
  `user_history?granularity=day&limit=365` (one point per day: the daily roll-up answers it, so
  the number of raw rows under it does not matter).

None of these answers is cached: each request reads MySQL. wrk runs them with a few
connections (latency, not saturation, is the question) against one `python -m services.api`,
a few rounds each, keeping each scenario's median round; p50/p99 latency and the CPU the API
process and MariaDB spent per request go to bench/RESULTS.md (section "Statistics").
`make bench-stats`; `--duration` and `--rounds` shorten or lengthen it.
"""

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
from api import (  # bench/api.py: the same wrk runs, servers and results file
    Result,
    Scenario,
    bench_settings,
    ensure_wrk,
    free_port,
    machine,
    median_run,
    run_wrk,
    server,
    write_section,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import create_engine, create_session_factory
from shared.models import Source, TaskType
from shared.repositories.history import HistoryRepository
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

SECTION = "## Statistics"
CONNECTIONS = 4
ROWS_60_DAYS = 60 * 2880  # every 30 s
YEAR_POINTS = 365 * 144  # every 10 minutes
USER_ID = 787132
YEAR_USER_ID = 25025320
POST_CODE = "CxYQJO8xuC6"
PREFIX = "/api/v1/instagram"
# Rows go in a day at a time: one transaction per simulated day of collections.
CHUNK = 2880


async def seed(settings: Settings) -> None:
    """The two profiles and the post, each with its history and roll-ups."""
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        await seed_target(sessions, TaskType.INFLUENCER, "natgeo", USER_ID, now, 30, ROWS_60_DAYS)
        await seed_target(sessions, TaskType.POST, POST_CODE, None, now, 30, ROWS_60_DAYS)
        await seed_target(
            sessions, TaskType.INFLUENCER, "instagram", YEAR_USER_ID, now, 600, YEAR_POINTS
        )
    finally:
        await engine.dispose()


async def seed_target(
    sessions: async_sessionmaker[AsyncSession],
    task_type: TaskType,
    target: str,
    user_id: int | None,
    end: datetime,
    every_seconds: int,
    count: int,
) -> None:
    """A task whose history has `count` points every `every_seconds` up to `end`: a steady
    climb with one day in ten far above the trend (what the anomaly rule has to find), and
    one point in twenty a fallback (which no statistic may count)."""
    start = end - timedelta(seconds=every_seconds * (count - 1))
    started = time.perf_counter()
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        task = await tasks.create(task_type, target, interval_seconds=86400, now=start)
        await tasks.record_success(task.id, now=start, user_id=user_id)
    for first in range(0, count, CHUNK):
        rows = [
            point(
                task_type, task.id, target, user_id, start + timedelta(seconds=every_seconds * n), n
            )
            for n in range(first, min(first + CHUNK, count))
        ]
        async with sessions.begin() as session:
            history = HistoryRepository(session)
            if task_type is TaskType.INFLUENCER:
                await history.add_influencer_points(rows)
            else:
                await history.add_post_points(rows)
    print(f"seeded {target}: {count:,} points in {time.perf_counter() - started:.0f} s", flush=True)


def point(
    task_type: TaskType, task_id: str, target: str, user_id: int | None, moment: datetime, n: int
) -> dict[str, object]:
    """The n-th point of a seeded history."""
    day = n * 30 // 86400
    burst = 5_000 if day % 10 == 9 else 0
    common = {
        "task_id": task_id,
        "recorded_at": moment,
        "scheduled_for": moment,
        "source": Source.FALLBACK if n % 20 == 19 else Source.LIVE,
    }
    if task_type is TaskType.INFLUENCER:
        return {
            **common,
            "user_id": user_id,
            "username": target,
            "bio": "Taking our understanding and awareness of the world further.",
            "follower_count": 280_000_000 + n * 3 + burst,
            "following_count": 150,
            "post_count": 29_000 + day,
        }
    return {
        **common,
        "post_code": target,
        "post_id": "3229174932405232698",
        "like_count": 10_000 + n * 2 + burst,
        "comment_count": 500 + n // 10,
        "play_count": 100_000 + n * 20,
    }


def measure(wrk: str, settings: Settings, duration: int, rounds: int) -> dict[str, list[Result]]:
    """Every scenario's wrk runs against one API process."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_AUTH": "disabled",
        "LOG_LEVEL": "INFO",
    }
    with server([sys.executable, "-m", "services.api"], port, environment) as api:
        paths = {
            "user_stats": f"{PREFIX}/influencer_monitor/user_stats/{USER_ID}",
            "video_stats": f"{PREFIX}/post_monitor/video_stats/{POST_CODE}",
            "year_by_day": f"{PREFIX}/influencer_monitor/user_history/{YEAR_USER_ID}"
            "?granularity=day&limit=365",
        }
        for path in paths.values():  # a wrong seed fails here, not as fast 404s
            response = httpx.get(f"{api.url}{path}", timeout=30)
            response.raise_for_status()
        scenarios = {
            name: Scenario(name, f"{api.url}{path}", api.pid, connections=CONNECTIONS)
            for name, path in paths.items()
        }
        runs: dict[str, list[Result]] = {name: [] for name in scenarios}
        for round_number in range(1, rounds + 1):
            for name, scenario in scenarios.items():
                print(f"round {round_number}/{rounds}: {name}", flush=True)
                runs[name].append(run_wrk(wrk, scenario, duration, warm_up=round_number == 1))
    return runs


GOALS = {"user_stats": "p99 < 50 ms, < 2 ms of API CPU"}
DESCRIPTIONS = {
    "user_stats": "`user_stats` of a profile with 172,800 points (60 days every 30 s)",
    "video_stats": "`video_stats` of a post with 172,800 points",
    "year_by_day": "`user_history?granularity=day&limit=365` of a year (52,560 points)",
}


def report(results: dict[str, Result], duration: int, rounds: int, machine_line: str) -> str:
    """The RESULTS.md section of this run."""
    rows = [
        "| read | body | requests/s | p50 | p99 | API CPU per request "
        "| MariaDB CPU per request | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        database = "n/a" if result.database_cpu_ms is None else f"{result.database_cpu_ms:.2f} ms"
        rows.append(
            f"| {DESCRIPTIONS[name]} | {result.body_bytes:,} B "
            f"| {result.requests_per_second:,.0f} | {result.p50_ms:.2f} ms "
            f"| {result.p99_ms:.2f} ms | {result.server_cpu_ms:.2f} ms | {database} "
            f"| {GOALS.get(name, '')} |"
        )
    return "\n".join(
        [
            SECTION,
            "",
            f"`make bench-stats` (`python bench/stats.py --duration {duration} --rounds "
            f"{rounds}`), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. {machine_line}.",
            f"wrk (2 threads, {CONNECTIONS} connections) on the same machine as one "
            "`python -m services.api` (uvicorn, uvloop, httptools; INFO logs to /dev/null); "
            f"{rounds} rounds of {duration} s per read, each read's median round shown. No "
            "read is cached: each one asks MySQL. The histories were written through the "
            "collector's write path (rows and roll-ups together), one point in twenty a "
            "fallback. CPU per request: the CPU time the API process (and the local MariaDB "
            "server) used during the run, divided by the requests answered.",
            "",
            *rows,
            "",
            "The statistics read the hourly and daily roll-ups and a few seeks down the rows' "
            "primary key, never a scan of the rows: their cost does not grow with the history.",
            "",
        ]
    )


async def benchmark(duration: int, rounds: int) -> None:
    """Seed, measure, write the results."""
    wrk = ensure_wrk()
    machine_line = machine()
    async with bench_settings() as settings:
        await seed(settings)
        runs = await asyncio.to_thread(measure, wrk, settings, duration, rounds)
    results = {name: median_run(found) for name, found in runs.items()}
    section = report(results, duration, rounds, machine_line)
    write_section(section, SECTION)
    print(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every read")
    arguments = parser.parse_args()
    asyncio.run(benchmark(arguments.duration, arguments.rounds))


if __name__ == "__main__":
    main()
