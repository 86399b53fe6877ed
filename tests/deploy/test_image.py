"""The container image: deploy/Dockerfile and its entry point, checked against the code."""

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from services.api.web.assets import HERE as WEB
from services.api.web.assets import LIBRARIES, SWAGGER_FILES
from services.sandbox.settings import SandboxSettings
from shared.settings import Settings
from tests.deploy import dockerfile
from tests.deploy.entry_points import (
    ALL_INTERFACES,
    ENTRYPOINT_SCRIPT,
    ROLES,
    ROOT,
    entrypoint_roles,
    module_source,
)
from tests.deploy.variables import SETTINGS_VARIABLES

BUILD_TOOLS = ("apt-get", "apk ", "gcc", "build-essential", "make ")


@pytest.fixture(scope="module")
def stages() -> list[dockerfile.Stage]:
    return dockerfile.load()[1]


def test_the_entry_point_runs_every_process_of_the_product() -> None:
    roles = entrypoint_roles()
    assert set(roles) == ROLES
    for role, module in roles.items():
        assert module_source(module).is_file(), f"{role}: `python -m {module}` has no source"


@pytest.fixture
def fake_python(tmp_path: Path) -> dict[str, str]:
    """An environment whose `python` prints the arguments it was given."""
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    python.chmod(0o755)
    return {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_entry_point_hands_the_arguments_to_the_process(
    role: str, fake_python: dict[str, str]
) -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT_SCRIPT), role, "--check", "two words"],
        env=fake_python,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == ["-m", entrypoint_roles()[role], "--check", "two words"]


@pytest.mark.parametrize("arguments", [[], ["worker"]])
def test_the_entry_point_refuses_an_unknown_process(
    arguments: list[str], fake_python: dict[str, str]
) -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT_SCRIPT), *arguments],
        env=fake_python,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 64
    assert result.stdout == ""
    assert "usage: instagram-monitor api|scheduler|collector|sandbox|migrate" in result.stderr


def test_the_image_builds_from_slim_python_with_the_dashboards_npm_packages(
    stages: list[dockerfile.Stage],
) -> None:
    assets, builder, final = stages
    assert assets.name is not None
    assert builder.name is not None
    assert final.name is None
    assert assets.base.startswith("node:"), assets.base
    assert "slim" in assets.base, assets.base
    for stage in (builder, final):
        assert stage.base.startswith("python:3.11-slim"), stage.base
    (npm,) = assets.all("RUN")
    assert "npm ci" in npm.arguments
    assert "--ignore-scripts" in npm.arguments
    installed = [c for c in builder.all("COPY") if f"--from={assets.name}" in c.arguments]
    assert [dockerfile.copy_sources(copy)[1] for copy in installed] == [
        "./services/api/web/node_modules"
    ]


def test_the_package_carries_every_file_the_pages_load() -> None:
    """The image installs the package without its sources: what is not package data is a 404."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["services.api.web"]
    pages = "".join(path.read_text() for path in (WEB / "templates").glob("*.html"))
    loaded = set(re.findall(r'"/assets/([a-z-]+)/([^"]+)"', pages))
    loaded |= {("swagger-ui", name) for name in SWAGGER_FILES}
    assert len(loaded) > len(SWAGGER_FILES)
    for library, name in loaded:
        path = f"node_modules/{LIBRARIES[library]}/{name}"
        assert path in data, path
        assert (WEB / path).is_file(), f"{path}: run make install"
    assert {"templates/*.html", "static/*"} <= set(data)


def test_the_project_is_installed_without_dev_extras_or_editable_mode(
    stages: list[dockerfile.Stage],
) -> None:
    _, builder, final = stages
    installs = [run.arguments for run in builder.all("RUN") if "pip install" in run.arguments]
    assert len(installs) == 1
    words = installs[0].split()
    assert words[-1] == "."
    assert "-e" not in words
    assert "--editable" not in words
    assert any(word.startswith("--prefix=") for word in words)
    prefix = next(word for word in words if word.startswith("--prefix=")).split("=", 1)[1]
    from_builder = [c for c in final.all("COPY") if f"--from={builder.name}" in c.arguments]
    assert [dockerfile.copy_sources(copy) for copy in from_builder] == [([prefix], "/usr/local")]


def test_the_final_image_has_no_build_tools(stages: list[dockerfile.Stage]) -> None:
    final = stages[-1]
    for run in final.all("RUN"):
        assert not any(tool in run.arguments for tool in BUILD_TOOLS), run.arguments
        assert "pip install" not in run.arguments


def test_the_image_runs_as_a_fixed_non_root_user(stages: list[dockerfile.Stage]) -> None:
    user, _, group = stages[-1].last("USER").arguments.partition(":")
    assert user.isdigit()
    assert int(user) >= 1000
    assert group.isdigit()
    created = " ".join(run.arguments for run in stages[-1].all("RUN"))
    assert f"--uid {user}" in created
    assert f"--gid {group}" in created


def test_the_entry_point_script_is_the_image_entry_point(stages: list[dockerfile.Stage]) -> None:
    final = stages[-1]
    entrypoint = final.last("ENTRYPOINT").exec_form()
    assert len(entrypoint) == 1
    (install,) = [c for c in final.all("COPY") if "deploy/entrypoint.sh" in c.arguments]
    assert dockerfile.copy_sources(install) == (
        ["deploy/entrypoint.sh"],
        f"/usr/local/bin/{entrypoint[0]}",
    )
    assert "--chmod=0755" in install.arguments
    assert final.last("CMD").exec_form()[0] in entrypoint_roles()
    assert final.last("STOPSIGNAL").arguments == "SIGTERM"


def test_the_image_exposes_the_ports_the_processes_listen_on(
    stages: list[dockerfile.Stage],
) -> None:
    defaults = Settings(_env_file=None)
    listened = {
        defaults.api_port,
        defaults.scheduler_metrics_port,
        defaults.collector_metrics_port,
        SandboxSettings(_env_file=None).port,
    }
    assert {int(port) for port in stages[-1].last("EXPOSE").arguments.split()} == listened


def test_the_api_listens_on_every_interface_in_a_container(
    stages: list[dockerfile.Stage],
) -> None:
    environment = stages[-1].environment()
    assert environment["API_HOST"] == ALL_INTERFACES
    assert set(environment) - {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"} <= SETTINGS_VARIABLES


def test_the_build_context_holds_what_the_dockerfile_copies(
    stages: list[dockerfile.Stage],
) -> None:
    packaging = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied: list[str] = []
    for stage in stages:
        for copy in stage.all("COPY"):
            if "--from=" not in copy.arguments:
                copied.extend(dockerfile.copy_sources(copy)[0])
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not dockerfile.excluded_from_context(source), f"{source} is in .dockerignore"
    # Everything `pip install .` needs: the metadata, the readme it names and every package.
    assert {"pyproject.toml", packaging["project"]["readme"]} <= set(copied)
    packages = packaging["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in packages} <= set(copied)
    assert not dockerfile.excluded_from_context("shared/migrations/versions/0001_initial_schema.py")
    assert not dockerfile.excluded_from_context("shared/migrations/script.py.mako")


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".dev-api-key",
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        "shared/__pycache__/db.cpython-311.pyc",
    ],
)
def test_secrets_and_local_files_stay_out_of_the_build_context(path: str) -> None:
    assert dockerfile.excluded_from_context(path)
