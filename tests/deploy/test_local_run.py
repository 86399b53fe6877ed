"""deploy/local/run.py (`make run`): which processes it starts, and how they find each other."""

import importlib.util
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
