"""The processes the image can run, read from its entry-point script."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENTRYPOINT_SCRIPT = DEPLOY / "entrypoint.sh"

# The five processes the product is made of (issue: one image, the command selects the service).
ROLES = frozenset({"api", "scheduler", "collector", "sandbox", "migrate"})
# What a process in a container must listen on to be reachable from outside it.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104

_CASE_ARM = re.compile(r"^\s*([a-z]+)\)\s+exec python -m ([\w.]+) \"\$@\"", re.MULTILINE)


def entrypoint_roles() -> dict[str, str]:
    """Each role the entry-point script accepts, with the module it runs with `python -m`."""
    return dict(_CASE_ARM.findall(ENTRYPOINT_SCRIPT.read_text()))


def module_source(module: str) -> Path:
    """The file `python -m module` runs, in this repository."""
    path = ROOT.joinpath(*module.split("."))
    return path / "__main__.py" if path.is_dir() else path.with_suffix(".py")
