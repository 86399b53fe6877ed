"""The real processes of the product, started on free ports for end-to-end tests."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HEALTH_PATHS = {"api": "/healthz", "sandbox": "/_sandbox/health"}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Stack:
    """One deployment's worth of processes sharing a database and a Redis prefix."""

    settings: Settings
    log_dir: Path
    sandbox_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    # Variables that differ from the defaults below, such as API_AUTH.
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def environment(self) -> dict[str, str]:
        """What every process of this stack reads: its database, prefix, ports and sandbox."""
        return {
            **os.environ,
            "DATABASE_URL": self.settings.database_url,
            "REDIS_URL": self.settings.redis_url,
            "REDIS_PREFIX": self.settings.redis_prefix,
            "TIKHUB_BASE_URL": self.sandbox_url,
            "TIKHUB_API_KEY": "sandbox-e2e-key",
            "SANDBOX_PORT": str(self.sandbox_port),
            "API_PORT": str(self.api_port),
            "API_AUTH": "disabled",
            "SCHEDULER_METRICS_PORT": "0",
            "COLLECTOR_METRICS_PORT": "0",
            # A killed collector's jobs are picked up again once their lease lapses: well
            # before the next slot, so the test can count the calls of each slot apart.
            "COLLECTOR_JOB_TIMEOUT_SECONDS": "10",
            "COLLECTOR_JOB_LEASE_SECONDS": "5",
            "LOG_FORMAT": "console",
            "LOG_LEVEL": "INFO",
            **self.overrides,
        }

    async def start(self, service: str, instance: str | None = None) -> None:
        """Start `python -m services.<service>` as process `instance` (default: its name)."""
        label = instance or service
        log = self.log_path(label).open("ab")
        self.processes[label] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{service}",
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        if service in HEALTH_PATHS:
            port = self.api_port if service == "api" else self.sandbox_port
            await self.wait_until_healthy(f"http://127.0.0.1:{port}{HEALTH_PATHS[service]}", label)

    def log_path(self, label: str) -> Path:
        """Where a process's output goes (appended, so a restart keeps the earlier run)."""
        return self.log_dir / f"{label}.log"

    async def wait_until_healthy(self, url: str, label: str, seconds: float = 30) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(int(seconds * 10)):
                if self.processes[label].returncode is not None:
                    raise RuntimeError(f"{label} exited early; see {self.log_path(label)}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{label} did not answer on {url} within {seconds} s")

    async def stop(self, label: str, *, kill: bool = False) -> int:
        """SIGTERM (or SIGKILL) one process and wait for it; return its exit code."""
        process = self.processes.pop(label)
        if process.returncode is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise

    async def stop_all(self) -> dict[str, int]:
        """Stop every process gracefully; return each one's exit code."""
        labels = list(self.processes)
        codes = await asyncio.gather(*(self.stop(label) for label in labels))
        return dict(zip(labels, codes, strict=True))


@contextlib.asynccontextmanager
async def running_stack(
    settings: Settings,
    log_dir: Path,
    services: tuple[str, ...],
    overrides: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """A stack with `services` started, stopped (and checked for clean exits) afterwards."""
    stack = Stack(settings, log_dir, overrides=overrides or {})
    try:
        for service in services:
            await stack.start(service)
        yield stack
    finally:
        codes = await stack.stop_all()
    unclean = {label: code for label, code in codes.items() if code != 0}
    assert not unclean, f"processes did not stop cleanly: {unclean} (logs in {log_dir})"
