"""The environment variables the code reads, and the ones .env.example documents."""

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from services.sandbox.settings import SandboxSettings
from shared.settings import Settings
from tests.deploy.entry_points import ROOT

ENV_EXAMPLE = ROOT / ".env.example"

_ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def variables_read_by(settings_class: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads: its prefix plus each field's name."""
    prefix = settings_class.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields}


SETTINGS_VARIABLES = variables_read_by(Settings)
SANDBOX_VARIABLES = variables_read_by(SandboxSettings)


def env_file_assignments(path: Path = ENV_EXAMPLE) -> tuple[dict[str, str], set[str]]:
    """The values an env file sets, and every variable it documents (set or commented out)."""
    values: dict[str, str] = {}
    documented: set[str] = set()
    for line in path.read_text().splitlines():
        match = _ASSIGNMENT.match(line.strip())
        if match:
            commented, name, value = match.groups()
            documented.add(name)
            if not commented:
                values[name] = value
    return values, documented
