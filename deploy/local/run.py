"""Run the whole product on this machine: `make run` (after install, services and migrate).

Starts the API, the scheduler and the collector — and the TikHub sandbox, pointed at by the
collector, when no TIKHUB_API_KEY is set — each line of their output prefixed by the process
name. Ctrl-C (or SIGTERM) stops them all, one after the other: the scheduler first (no new
jobs), then the collector (its running jobs finish, up to the job timeout), then the API and
the sandbox, which the collector's jobs still need until then. If one exits on its own, the
others are stopped the same way.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.sandbox.settings import SandboxSettings
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEV_KEY_FILE = ROOT / ".dev-api-key"
STOP_GRACE_SECONDS = 15
STOP_ORDER = ("scheduler", "collector", "api", "sandbox")
COLOURS = {"api": 32, "scheduler": 33, "collector": 36, "sandbox": 35}


@dataclass
class Service:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    # How long the process may take to stop after SIGTERM before it is killed.
    stop_seconds: float = STOP_GRACE_SECONDS
    command: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.command:
            self.command = [sys.executable, "-m", f"services.{self.name}"]

    @property
    def label(self) -> str:
        """The padded, coloured prefix of this service's lines when writing to a terminal."""
        text = f"{self.name:<9} |"
        return f"\033[{COLOURS[self.name]}m{text}\033[0m" if sys.stdout.isatty() else text


def plan(settings: Settings, sandbox: SandboxSettings) -> list[Service]:
    """The processes to run; the sandbox stands in for TikHub when no key is configured."""
    # On SIGTERM the collector takes no new job and waits for the running ones.
    collector = Service(
        "collector", stop_seconds=settings.collector_job_timeout_seconds + STOP_GRACE_SECONDS
    )
    services = [Service("api"), Service("scheduler"), collector]
    if not settings.tikhub_api_key.get_secret_value():
        # The sandbox reads SANDBOX_PORT itself; the collector is pointed at the same port.
        sandbox_url = f"http://127.0.0.1:{sandbox.port}"
        services.insert(0, Service("sandbox"))
        # The sandbox accepts any non-empty key; this one never leaves the machine.
        services[-1].env.update({"TIKHUB_BASE_URL": sandbox_url, "TIKHUB_API_KEY": "sandbox"})
    return services


def development_api_key(settings: Settings) -> str | None:
    """The key `make run` created on its first start (kept in .dev-api-key), made if missing."""
    if settings.api_auth == "disabled":
        return None
    if DEV_KEY_FILE.exists():
        key = DEV_KEY_FILE.read_text().strip()
        check = subprocess.run(
            [sys.executable, "-m", "services.api", "keys", "verify"],
            input=key,
            text=True,
            capture_output=True,
            check=False,
        )
        if check.returncode == 0:
            return key
    name = f"dev-{int(time.time())}"
    created = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "-m", "services.api", "keys", "create", name],
        text=True,
        capture_output=True,
        check=True,
    )
    key = created.stdout.strip()
    DEV_KEY_FILE.write_text(key + "\n")
    DEV_KEY_FILE.chmod(0o600)
    return key


async def relay(service: Service, process: asyncio.subprocess.Process) -> None:
    """Copy a process's output to ours, one prefixed line at a time."""
    assert process.stdout is not None
    async for line in process.stdout:
        sys.stdout.write(f"{service.label} {line.decode(errors='replace')}")
        sys.stdout.flush()


async def supervise(services: list[Service], ready_message: str) -> int:
    """Run every service until Ctrl-C or until one of them exits; return an exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    processes: dict[str, asyncio.subprocess.Process] = {}
    relays = []
    for service in services:
        process = await asyncio.create_subprocess_exec(
            *service.command,
            env={
                **os.environ,
                "LOG_FORMAT": "console",
                "SANDBOX_LOG_FORMAT": "console",
                **service.env,
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us alone; we stop the children in order
        )
        processes[service.name] = process
        relays.append(asyncio.create_task(relay(service, process)))
    print(ready_message, flush=True)

    exits = {name: asyncio.create_task(p.wait()) for name, p in processes.items()}
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *exits.values()], return_when=asyncio.FIRST_COMPLETED)
    crashed = [name for name, task in exits.items() if task in done]
    if crashed:
        print(f"{', '.join(crashed)} exited; stopping the others", file=sys.stderr, flush=True)
    else:
        print("stopping…", flush=True)

    for service in sorted(services, key=lambda service: STOP_ORDER.index(service.name)):
        await stop_process(processes[service.name], service.stop_seconds)
    await asyncio.gather(*relays)
    stopper.cancel()
    return 1 if crashed else 0


async def stop_process(process: asyncio.subprocess.Process, grace_seconds: float) -> None:
    """SIGTERM the process and wait for it to exit; kill it if it takes longer than the grace."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()


def main() -> int:
    settings = Settings()
    services = plan(settings, SandboxSettings())
    key = development_api_key(settings)
    base = f"http://{settings.api_host}:{settings.api_port}"
    auth = f" -H 'X-API-Key: {key}'" if key else ""
    tikhub_url = services[-1].env.get("TIKHUB_BASE_URL", settings.tikhub_base_url)
    source = f"the TikHub sandbox at {tikhub_url}" if services[0].name == "sandbox" else tikhub_url
    lines = [
        "",
        f"Instagram Monitor is starting: API at {base} (docs at {base}/docs), data from {source}.",
    ]
    lines.append(
        f"Dashboard: open {base}/ in a browser"
        + (" and sign in with the development key." if key else ".")
    )
    if key:
        lines.append(f"Development API key (also in {DEV_KEY_FILE.name}): {key}")
    lines += [
        "Try:",
        f"  curl -s{auth} -H 'Content-Type: application/json' "
        f'-d \'{{"username": "instagram", "interval": "30s"}}\' '
        f"{base}/api/v1/instagram/influencer_monitor/create_monitor_task",
        "Press Ctrl-C to stop.",
        "",
    ]
    return asyncio.run(supervise(services, "\n".join(lines)))


if __name__ == "__main__":
    sys.exit(main())
