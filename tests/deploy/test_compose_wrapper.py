"""deploy/compose.sh (`make up`, `make down`, `make logs`): env file, compose file, profile."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.entry_points import DEPLOY
from tests.deploy.variables import ENV_EXAMPLE


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the files the wrapper uses, with a `docker` that reports how it was called."""
    (tmp_path / "deploy").mkdir()
    shutil.copy(DEPLOY / "compose.sh", tmp_path / "deploy" / "compose.sh")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env.example")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text('#!/bin/sh\necho "profiles=${COMPOSE_PROFILES:-}"\necho "$@"\n')
    docker.chmod(0o755)
    return tmp_path


def run(checkout: Path, *arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run the wrapper from another folder, with only PATH and `environment` set."""
    path = f"{checkout / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["sh", str(checkout / "deploy" / "compose.sh"), *arguments],
        env={"PATH": path, **environment},
        cwd=checkout / "bin",
        capture_output=True,
        text=True,
        check=True,
    )


def test_without_env_the_example_is_used_and_no_env_is_written(checkout: Path) -> None:
    result = run(checkout, "up", "--build", "--detach")
    # `make run` reads .env too: one written here would change what it runs.
    assert not (checkout / ".env").exists()
    assert "using .env.example" in result.stderr
    _, command = result.stdout.splitlines()
    assert command == (
        f"compose --env-file {checkout}/.env.example --file {checkout}/deploy/compose.yaml "
        "up --build --detach"
    )


def test_an_env_of_the_users_is_used(checkout: Path) -> None:
    (checkout / ".env").write_text(ENV_EXAMPLE.read_text())
    result = run(checkout, "up")
    assert f"--env-file {checkout}/.env " in result.stdout
    assert "using .env.example" not in result.stderr


def fail(checkout: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(checkout / "deploy" / "compose.sh"), "up"],
        env=environment,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_missing_docker_is_named_before_anything_else(checkout: Path) -> None:
    # Only the tools the script itself needs, and no docker among them.
    tools = checkout / "tools"
    tools.mkdir()
    for tool in ("sh", "dirname", "sed", "tail", "tr"):
        found = shutil.which(tool)
        assert found
        (tools / tool).symlink_to(found)
    result = fail(checkout, PATH=str(tools))
    assert result.returncode == 1
    assert "docker is not installed" in result.stderr
    assert "make run" in result.stderr
    assert not (checkout / ".env").exists()


def test_docker_without_compose_is_named(checkout: Path) -> None:
    (checkout / "bin" / "docker").write_text(
        "#!/bin/sh\necho \"'compose' is not a command\" >&2\nexit 1\n"
    )
    result = fail(checkout, PATH=f"{checkout / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert result.returncode == 1
    assert "'docker compose' is not" in result.stderr
    assert "Compose v2 plugin" in result.stderr


def test_no_tikhub_key_starts_the_sandbox(checkout: Path) -> None:
    result = run(checkout, "up")
    assert result.stdout.splitlines()[0] == "profiles=sandbox"
    assert "starting the sandbox" in result.stderr


@pytest.mark.parametrize("line", ["TIKHUB_API_KEY=abc123", 'TIKHUB_API_KEY="abc123"'])
def test_a_tikhub_key_in_env_leaves_the_sandbox_out(checkout: Path, line: str) -> None:
    env = ENV_EXAMPLE.read_text().replace("TIKHUB_API_KEY=\n", f"{line}\n")
    env = env.replace(
        "TIKHUB_BASE_URL=http://sandbox:9100", "TIKHUB_BASE_URL=https://api.tikhub.io"
    )
    (checkout / ".env").write_text(env)
    result = run(checkout, "up")
    assert result.stdout.splitlines()[0] == "profiles="
    assert result.stderr == ""


def test_a_tikhub_key_in_the_shell_leaves_the_sandbox_out(checkout: Path) -> None:
    result = run(checkout, "up", TIKHUB_API_KEY="abc123")
    assert result.stdout.splitlines()[0] == "profiles="
    # .env.example still points at the sandbox, which this run will not start.
    assert "TIKHUB_BASE_URL still points at the sandbox" in result.stderr


def test_profiles_chosen_by_the_user_are_kept(checkout: Path) -> None:
    result = run(checkout, "up", COMPOSE_PROFILES="monitoring")
    assert result.stdout.splitlines()[0] == "profiles=monitoring"


def test_other_commands_pass_through_quietly(checkout: Path) -> None:
    (checkout / ".env").write_text(ENV_EXAMPLE.read_text())
    result = run(checkout, "logs", "--follow")
    assert result.stdout.splitlines()[1].endswith("compose.yaml logs --follow")
    assert result.stderr == ""


def test_make_up_down_and_logs_go_through_the_wrapper() -> None:
    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "up", "down", "logs"],
        cwd=DEPLOY.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "sh deploy/compose.sh up --build --detach",
        # Stops the sandbox too, whether or not a TikHub key was added since `make up`.
        "COMPOSE_PROFILES=sandbox sh deploy/compose.sh down",
        "sh deploy/compose.sh logs --follow --tail=100",
    ]
