"""The user's guide documents every setting, and its links stay inside the repository."""

import re
from pathlib import Path

import pytest

from services.sandbox.settings import SandboxSettings
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GUIDES = [ROOT / "README.md", ROOT / "services/sandbox/README.md", *sorted(ROOT.glob("docs/*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert missing == []


def test_sandbox_readme_lists_every_sandbox_setting() -> None:
    readme = (ROOT / "services/sandbox/README.md").read_text()
    names = [f"SANDBOX_{name.upper()}" for name in SandboxSettings.model_fields]
    assert [name for name in names if f"`{name}`" not in readme] == []


@pytest.mark.parametrize("guide", GUIDES, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(guide: Path) -> None:
    for target in LINK.findall(guide.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (guide.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), target
        assert resolved.exists(), target
    assert "/work/" not in guide.read_text()
