"""Running real collector processes in tests: a stand-in TikHub, their environment, waiting."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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
        usernames = parse_qs(urlsplit(self.path).query).get("username")
        if not usernames:  # the collector's balance poll: this TikHub keeps no account
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(success(flat_profile(username=usernames[0]))).encode()
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


async def spawn_service(module: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`python -m <module>` with `env`, its output appended to `log` (a restart adds to it)."""
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, env=env, stdout=output, stderr=subprocess.STDOUT
        )


async def spawn_collector(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`python -m services.collector` with `env`, its output appended to `log`."""
    return await spawn_service("services.collector", env, log)


async def wait_for(
    condition: Callable[[], Awaitable[bool]], what: str, *, seconds: float = DEADLINE_SECONDS
) -> None:
    """Poll `condition` until it holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def free_port() -> int:
    """A TCP port nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own, without persistence, that the test kills at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        """kill -9: whatever it held is gone."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


class MariaDBServer:
    """A mariadbd of the test's own, on its own port and data directory, killed at will."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def database_url(self, name: str) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/{name}"

    async def install(self) -> None:
        """Create its data directory (once, before the first start)."""
        installer = await asyncio.create_subprocess_exec(
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.directory / 'data'}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert await installer.wait() == 0, "mariadb-install-db failed"

    def start(self) -> None:
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "mariadbd",
                    "--no-defaults",
                    f"--datadir={self.directory / 'data'}",
                    f"--socket={self.directory / 'mariadb.sock'}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    "--user=root",
                    "--innodb-buffer-pool-size=32M",
                    "--skip-log-bin",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self) -> None:
        async def accepting() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_for(accepting, f"MariaDB on port {self.port}")

    def kill(self) -> None:
        """kill -9, like a crashed or evicted database."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


def scheduler_env(settings: Settings, *, claim_lease_seconds: int = 2) -> dict[str, str]:
    """The environment of a `python -m services.scheduler` for a fault test."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "SCHEDULER_TICK_SECONDS": "0.2",
        "SCHEDULER_METRICS_PORT": "0",
        "SCHEDULER_CLAIM_LEASE_SECONDS": str(claim_lease_seconds),
        "LOG_FORMAT": "json",
    }


async def spawn_scheduler(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`python -m services.scheduler` with `env`, its output appended to `log`."""
    return await spawn_service("services.scheduler", env, log)


@asynccontextmanager
async def stopped_after(
    process: asyncio.subprocess.Process, *, seconds: float = DEADLINE_SECONDS
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`process` for the block; SIGTERM and a wait for its exit afterwards (kill -9 if none)."""
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), seconds)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise


async def logged_times(
    log: Path, event: str, *, times: int = 1, seconds: float = DEADLINE_SECONDS
) -> None:
    """Wait until a JSON log has `event` at least `times` times."""

    async def seen() -> bool:
        return (await asyncio.to_thread(log.read_text)).count(f'"{event}"') >= times

    await wait_for(seen, f"{event} logged {times} times", seconds=seconds)
