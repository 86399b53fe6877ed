"""Fixtures for the sandbox tests: an in-process sandbox app on a clock the test controls."""

import os
from typing import Any

import httpx
import pytest

from services.sandbox.app import create_app
from services.sandbox.settings import SandboxSettings
from tests.sandbox.support import FIXED_NOW, TEST_KEY, ClientFactory, FakeClock


@pytest.fixture(autouse=True)
def _ignore_developer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A SANDBOX_* variable in the developer's shell must not change what these tests see.
    for name in list(os.environ):
        if name.startswith("SANDBOX_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FIXED_NOW)


@pytest.fixture
def make_client(clock: FakeClock) -> ClientFactory:
    """Build a client for a fresh sandbox app; keyword arguments are SandboxSettings fields."""

    def build(*, bearer: str | None = TEST_KEY, **settings: Any) -> httpx.AsyncClient:
        app = create_app(SandboxSettings(_env_file=None, **settings), clock=clock)
        headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test", headers=headers
        )

    return build
