"""`python -m services.api keys create | list | revoke`: what an operator sees, and exit codes."""

import asyncio

import pytest

from services.api.__main__ import main
from services.api.api_keys import hash_key
from shared.repositories.api_keys import ApiKeyRepository
from shared.settings import Settings
from tests.api.support import Sessions


@pytest.fixture
def environment(settings: Settings, sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command reads its settings from the environment, as in production."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("REDIS_PREFIX", settings.redis_prefix)


async def keys(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["keys", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("environment")
async def test_create_prints_the_key_once_and_stores_only_its_hash(
    capsys: pytest.CaptureFixture[str], sessions: Sessions
) -> None:
    code, out, err = await keys(capsys, "create", "mobile-app")

    assert code == 0
    key = out.strip()
    assert out == f"{key}\n"
    assert key.startswith("im_")
    assert len(key) > 40
    assert "only time it is shown" in err
    async with sessions() as session:
        (stored,) = await ApiKeyRepository(session).list_all()
    assert (stored.name, stored.key_hash) == ("mobile-app", hash_key(key))
    assert key not in stored.key_hash


@pytest.mark.usefixtures("environment")
async def test_creating_a_taken_name_exits_3_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await keys(capsys, "create", "dev")
    code, out, err = await keys(capsys, "create", "dev")
    assert (code, out) == (3, "")
    assert "'dev' already exists" in err


@pytest.mark.usefixtures("environment")
async def test_list_and_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    _, first_key, _ = await keys(capsys, "create", "first")
    await keys(capsys, "create", "second")

    assert await keys(capsys, "revoke", "first") == (0, "revoked API key 'first'\n", "")
    code, listing, _ = await keys(capsys, "list")

    assert code == 0
    header, first, second = listing.splitlines()
    assert header.split() == ["NAME", "CREATED", "LAST", "USED", "REVOKED"]
    assert first.split()[0] == "first"
    assert first.split()[-1].endswith("Z")  # revoked at
    assert second.split()[0] == "second"
    assert second.split()[-2:] == ["never", "-"]
    assert first_key.strip() not in listing
    # Revoking twice is harmless; an unknown name is an error.
    assert (await keys(capsys, "revoke", "first"))[0] == 0
    code, _, err = await keys(capsys, "revoke", "nobody")
    assert code == 1
    assert "no API key named 'nobody'" in err


@pytest.mark.usefixtures("environment")
async def test_bad_names_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = await keys(capsys, "create", "has space")
    assert (code, out) == (1, "")
    assert "letters, digits" in err
    with pytest.raises(SystemExit) as usage:
        await asyncio.to_thread(main, ["keys"])
    assert usage.value.code == 2
