"""deploy/local/run.py (`make run`): which processes it starts, and how they find each other."""

import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from pydantic import SecretStr

from services.sandbox.settings import SandboxSettings
from shared.settings import Settings
from tests.deploy.entry_points import DEPLOY


def load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_run", DEPLOY / "local" / "run.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_key_the_collector_uses_the_sandbox_on_its_configured_port() -> None:
    run = load_run()
    services = run.plan(
        Settings(_env_file=None, tikhub_api_key=SecretStr("")),
        SandboxSettings(_env_file=None, port=9200),
    )
    assert [service.name for service in services] == ["sandbox", "api", "scheduler", "collector"]
    # The sandbox reads SANDBOX_PORT itself; nothing overrides it.
    assert "SANDBOX_PORT" not in services[0].env
    assert services[-1].env["TIKHUB_BASE_URL"] == "http://127.0.0.1:9200"


def test_with_a_key_no_sandbox_runs() -> None:
    run = load_run()
    services = run.plan(
        Settings(_env_file=None, tikhub_api_key=SecretStr("a-real-key")),
        SandboxSettings(_env_file=None),
    )
    assert [service.name for service in services] == ["api", "scheduler", "collector"]
    assert services[-1].env == {}


# A stand-in service: notes when SIGTERM arrives and when it has finished, taking `delay`
# seconds to finish, as a collector finishing its running jobs does.
STAND_IN = """
import signal, sys, time
name, journal, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
def note(event):
    with open(journal, "a") as out:
        out.write(f"{name} {event}\\n")
def stop(signum, frame):
    note("stopping")
    time.sleep(delay)
    note("stopped")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
note("started")
while True:
    time.sleep(1)
"""

# Runs `make run`'s supervisor over stand-ins, printing "ready" once they are started.
SUPERVISOR = """
import asyncio, importlib.util, sys
spec = importlib.util.spec_from_file_location("local_run", sys.argv[1])
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)
stand_in, journal = sys.argv[2], sys.argv[3]
services = [
    run.Service(name, command=[sys.executable, "-c", stand_in, name, journal, delay])
    for name, delay in [("sandbox", "0"), ("api", "0"), ("scheduler", "0"), ("collector", "1")]
]
sys.exit(asyncio.run(run.supervise(services, "ready")))
"""


def test_ctrl_c_stops_the_scheduler_then_the_collector_then_the_api_and_the_sandbox(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal"
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SUPERVISOR,
            str(DEPLOY / "local" / "run.py"),
            STAND_IN,
            str(journal),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (journal.exists() and journal.read_text().count("started") == 4):
            assert time.monotonic() < deadline, "the stand-ins did not start"
            time.sleep(0.05)
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=10) == 0
    finally:
        supervisor.kill()
        supervisor.wait()
    events = [line for line in journal.read_text().splitlines() if "started" not in line]
    assert events == [
        f"{name} {event}"
        for name in ("scheduler", "collector", "api", "sandbox")
        for event in ("stopping", "stopped")
    ]
