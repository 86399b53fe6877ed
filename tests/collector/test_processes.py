"""Two real `python -m services.collector` processes sharing one Redis and one TikHub budget."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from arq.connections import ArqRedis
from redis.asyncio import Redis

from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import Source, TaskType
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.collector.support import (
    Sessions,
    flat_profile,
    influencer_rows,
    make_task,
    slot_now,
    success,
)

RATE_PER_SECOND = 20
TASKS = 40
WORKERS = 2
DEADLINE_SECONDS = 60


class StandInTikHub(ThreadingHTTPServer):
    """A local TikHub that answers every profile call and notes when each arrived."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProfileHandler)
        self.arrivals: list[float] = []
        self.lock = threading.Lock()


class ProfileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInTikHub

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.arrivals.append(time.monotonic())
        username = parse_qs(urlsplit(self.path).query)["username"][0]
        body = json.dumps(success(flat_profile(username=username))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the arrivals, not an access log."""


@pytest.fixture
def stand_in() -> Iterator[StandInTikHub]:
    server = StandInTikHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def collector_env(settings: Settings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "TIKHUB_BASE_URL": f"http://127.0.0.1:{port}",
        "TIKHUB_API_KEY": settings.tikhub_api_key.get_secret_value(),
        "TIKHUB_RATE_LIMIT_PER_SECOND": str(RATE_PER_SECOND),
        # Short enough that many jobs are deferred and picked up again, by either process.
        "COLLECTOR_RATE_LIMIT_MAX_WAIT_SECONDS": "0.5",
        # Neither process can take every job for itself.
        "COLLECTOR_MAX_JOBS": "10",
        "COLLECTOR_POLL_DELAY_SECONDS": "0.05",
        "COLLECTOR_HEALTH_CHECK_INTERVAL_SECONDS": "1",
        "COLLECTOR_METRICS_PORT": "0",
        "LOG_FORMAT": "json",
    }


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_two_processes_together_stay_within_the_rate_limit(
    settings: Settings,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    stand_in: StandInTikHub,
    tmp_path: Path,
) -> None:
    env = collector_env(settings, stand_in.server_address[1])
    logs = [tmp_path / f"collector-{n}.log" for n in range(WORKERS)]
    with ExitStack() as files:
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.collector",
                env=env,
                stdout=files.enter_context(log.open("wb")),
                stderr=subprocess.STDOUT,
            )
            for log in logs
        ]
        probe, exit_codes = await run_until_collected(workers, env, logs, sessions, redis, keys)

    assert exit_codes == [0] * WORKERS
    assert probe.returncode == 0, probe.stdout
    assert "alive" in probe.stdout
    assert {row.source for row in await influencer_rows(sessions)} == {Source.LIVE}
    # Each process did part of the work...
    assert all(log.read_text().count('"collector.collected"') > 0 for log in logs)
    # ...and together they never went faster than the shared budget: n calls spaced 1/rate
    # apart span at least (n - 1) / rate seconds. The slack absorbs scheduling jitter.
    arrivals = sorted(stand_in.arrivals)
    assert len(arrivals) == TASKS
    span = arrivals[-1] - arrivals[0]
    assert len(arrivals) <= RATE_PER_SECOND * span + 3


async def run_until_collected(
    workers: list[asyncio.subprocess.Process],
    env: dict[str, str],
    logs: list[Path],
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Queue every task's job once both workers are up; probe them; stop them."""
    try:

        async def both_started() -> bool:
            return all("collector.started" in log.read_text() for log in logs)

        await wait_for(both_started, "both collectors to start")
        slot = slot_now()
        pool = ArqRedis(connection_pool=redis.connection_pool)
        for n in range(TASKS):
            task = await make_task(sessions, TaskType.INFLUENCER, f"user{n}")
            job_id = collect_job_id(task.id, slot)
            await pool.enqueue_job(
                COLLECT_FUNCTION, task.id, slot, _job_id=job_id, _queue_name=keys.collector_queue
            )

        async def all_collected() -> bool:
            return len(await influencer_rows(sessions)) == TASKS

        await wait_for(all_collected, f"{TASKS} history rows")
        check = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.collector",
            "--check",
            env=env,
            stdout=subprocess.PIPE,
        )
        output, _ = await asyncio.wait_for(check.communicate(), DEADLINE_SECONDS)
        probe = subprocess.CompletedProcess(
            "collector --check", check.returncode or 0, output.decode()
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        exit_codes = [await asyncio.wait_for(worker.wait(), DEADLINE_SECONDS) for worker in workers]
    return probe, exit_codes
