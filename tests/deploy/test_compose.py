"""deploy/compose.yaml and .env.example, checked against the compose spec and the code."""

import json
import re
from importlib.resources import files
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from services.sandbox.app import create_app
from services.sandbox.auth import Credential, check_bearer
from services.sandbox.settings import SandboxSettings
from shared.settings import Settings
from tests.deploy.entry_points import ALL_INTERFACES, DEPLOY, ROLES, entrypoint_roles
from tests.deploy.variables import (
    ENV_EXAMPLE,
    SANDBOX_VARIABLES,
    SETTINGS_VARIABLES,
    env_file_assignments,
)

COMPOSE_FILE = DEPLOY / "compose.yaml"
# ${NAME}, ${NAME:-default}, ${NAME:?error}...; `$$` escapes a dollar for the container's shell.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
# Variables docker compose itself reads from the environment or the env file.
COMPOSE_CLI_VARIABLES = {"COMPOSE_PROFILES"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run the product's image (the others are MySQL and Redis)."""
    return {name: service for name, service in services.items() if "build" in service}


def interpolations() -> dict[str, list[tuple[str, str]]]:
    """Each variable compose substitutes, with the (operator, operand) of every use."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, operator, operand in INTERPOLATION.findall(COMPOSE_FILE.read_text()):
        found.setdefault(name, []).append((operator, operand))
    return found


def seconds(duration: str) -> int:
    """A compose duration such as "330s" or "5m30s" in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    assert "".join(f"{n}{u}" for n, u in parts) == duration, duration
    return sum(int(number) * units[unit] for number, unit in parts)


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    # check-jsonschema ships the compose-spec schema, so this needs no network.
    schema_file = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_every_process_of_the_product_has_a_service(
    services: dict[str, dict[str, Any]],
) -> None:
    roles = entrypoint_roles()
    commands = {name: service["command"] for name, service in app_services(services).items()}
    for name, command in commands.items():
        assert command[0] in roles, f"{name} runs {command}, which the image does not know"
    assert {command[0] for command in commands.values()} == ROLES
    images = {service["image"] for service in app_services(services).values()}
    assert len(images) == 1


def test_services_set_only_variables_the_settings_read(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in app_services(services).items():
        read = SANDBOX_VARIABLES if service["command"][0] == "sandbox" else SETTINGS_VARIABLES
        unknown = set(service.get("environment", {})) - read
        assert not unknown, f"{name} sets {unknown}, which its settings do not read"


def test_processes_listen_on_every_interface_of_their_container(
    services: dict[str, dict[str, Any]],
) -> None:
    api, sandbox = services["api"], services["sandbox"]
    assert api["environment"]["API_HOST"] == ALL_INTERFACES
    assert sandbox["environment"]["SANDBOX_HOST"] == ALL_INTERFACES
    for worker in ("scheduler", "collector"):
        assert services[worker]["environment"][f"{worker.upper()}_METRICS_HOST"] == ALL_INTERFACES
    assert api["ports"] == ["${API_PUBLISHED_PORT:-8000}:" + api["environment"]["API_PORT"]]
    assert sandbox["ports"][0].endswith(":" + sandbox["environment"]["SANDBOX_PORT"])


def test_every_dependency_exists_and_can_be_waited_for(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on a missing service {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no health check"
            elif rule["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not one-shot"


def test_the_processes_wait_for_migrations_and_migrations_wait_for_mysql(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"] == {"mysql": {"condition": "service_healthy"}}
    for name in ("api", "scheduler", "collector"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
        assert depends_on["redis"] == {"condition": "service_healthy"}


async def test_health_checks_call_what_each_process_offers(
    services: dict[str, dict[str, Any]],
) -> None:
    expected_url = {
        "api": f"http://127.0.0.1:{services['api']['environment']['API_PORT']}/readyz",
        "sandbox": f"http://127.0.0.1:{services['sandbox']['environment']['SANDBOX_PORT']}"
        "/_sandbox/health",
    }
    for name, service in app_services(services).items():
        role = service["command"][0]
        if role == "migrate":
            assert "healthcheck" not in service
        elif role in expected_url:
            assert f"urlopen('{expected_url[role]}'" in service["healthcheck"]["test"][-1], name
        else:
            assert service["healthcheck"]["test"] == ["CMD", "instagram-monitor", role, "--check"]
    sandbox = create_app(SandboxSettings(_env_file=None))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox:9100"
    ) as client:
        assert (await client.get("/_sandbox/health")).status_code == 200


def test_mysql_and_redis_keep_their_data_and_report_their_health(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert services["mysql"]["image"] == "mysql:8.4"
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("mysql", "redis"):
        assert "healthcheck" in services[name]
        volume = services[name]["volumes"][0].split(":")[0]
        assert volume in compose["volumes"]
    assert "--appendonly" in services["redis"]["command"]


def test_the_sandbox_is_an_opt_in_profile_the_collector_can_use(
    services: dict[str, dict[str, Any]],
) -> None:
    sandbox, collector = services["sandbox"], services["collector"]
    assert sandbox["profiles"] == ["sandbox"]
    assert collector["depends_on"]["sandbox"] == {"condition": "service_healthy", "required": False}
    # With no key configured the collector sends a stand-in the sandbox accepts.
    key = re.fullmatch(r"\$\{TIKHUB_API_KEY:-(.+)\}", collector["environment"]["TIKHUB_API_KEY"])
    assert key
    assert (
        check_bearer(f"Bearer {key.group(1)}", accepted=frozenset(), rejected=frozenset())
        is Credential.VALID
    )
    values, _ = env_file_assignments()
    assert values["TIKHUB_API_KEY"] == ""
    assert values["TIKHUB_BASE_URL"] == f"http://sandbox:{sandbox['environment']['SANDBOX_PORT']}"


def test_the_collector_may_finish_its_jobs_before_it_is_stopped(
    services: dict[str, dict[str, Any]],
) -> None:
    collector = services["collector"]
    overrides = {
        name.lower(): value
        for name, value in collector["environment"].items()
        if name == "COLLECTOR_JOB_TIMEOUT_SECONDS"
    }
    timeout = Settings(_env_file=ENV_EXAMPLE, **overrides).collector_job_timeout_seconds
    assert seconds(collector["stop_grace_period"]) > timeout


def test_env_example_documents_every_variable() -> None:
    _, documented = env_file_assignments()
    compose_variables = set(interpolations())
    expected = SETTINGS_VARIABLES | SANDBOX_VARIABLES | compose_variables
    assert expected - documented == set(), "undocumented in .env.example"
    assert documented - expected - COMPOSE_CLI_VARIABLES == set(), "read by nothing"


def test_env_example_gives_a_value_to_every_required_compose_variable() -> None:
    values, _ = env_file_assignments()
    for name, uses in interpolations().items():
        if any(operator in (":?", "?") for operator, _ in uses):
            assert values.get(name), f"{name} is required by compose.yaml but empty in .env.example"


def test_env_example_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    values, _ = env_file_assignments()
    for name in SETTINGS_VARIABLES | SANDBOX_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ENV_EXAMPLE)
    assert settings.tikhub_base_url == values["TIKHUB_BASE_URL"]
    assert SandboxSettings(_env_file=ENV_EXAMPLE).port == SandboxSettings(_env_file=None).port
