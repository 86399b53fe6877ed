"""Running real collector processes in tests: a stand-in TikHub, their environment, waiting."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from shared.settings import Settings
from tests.collector.support import flat_profile, success

DEADLINE_SECONDS = 60


class StandInTikHub(ThreadingHTTPServer):
    """A local TikHub that answers every profile call and notes when each arrived."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProfileHandler)
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        # Cleared, calls hang until it is set again: a collection the test catches in flight.
        self.answering = threading.Event()
        self.answering.set()


class ProfileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInTikHub

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.arrivals.append(time.monotonic())
        self.server.answering.wait()
        username = parse_qs(urlsplit(self.path).query)["username"][0]
        body = json.dumps(success(flat_profile(username=username))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the arrivals, not an access log."""


def collector_env(settings: Settings, port: int, *, rate_per_second: float) -> dict[str, str]:
    """The environment of a `python -m services.collector` against the stand-in TikHub."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "TIKHUB_BASE_URL": f"http://127.0.0.1:{port}",
        "TIKHUB_API_KEY": settings.tikhub_api_key.get_secret_value(),
        "TIKHUB_RATE_LIMIT_PER_SECOND": str(rate_per_second),
        # Short enough that many jobs are deferred and picked up again, by either process.
        "COLLECTOR_RATE_LIMIT_MAX_WAIT_SECONDS": "0.5",
        # Neither process can take every job for itself.
        "COLLECTOR_MAX_JOBS": "10",
        "COLLECTOR_POLL_DELAY_SECONDS": "0.05",
        "COLLECTOR_HEALTH_CHECK_INTERVAL_SECONDS": "1",
        "COLLECTOR_METRICS_PORT": "0",
        "LOG_FORMAT": "json",
    }


async def spawn_collector(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`python -m services.collector` with `env`, its output written to `log`."""
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.collector",
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_for(
    condition: Callable[[], Awaitable[bool]], what: str, *, seconds: float = DEADLINE_SECONDS
) -> None:
    """Poll `condition` until it holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
