"""Fixtures of the API tests: a client on the app, run against the real MariaDB and Redis."""

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from shared.settings import Settings
from tests.api.support import INFLUENCER, POST, Kind, Sessions, running_app


@pytest.fixture
async def client(
    settings: Settings, sessions: Sessions, redis: Redis
) -> AsyncIterator[AsyncClient]:
    """A client on the app; the tables are emptied and the test's Redis keys deleted after."""
    async with running_app(settings) as client:
        yield client


@pytest.fixture(params=[INFLUENCER, POST], ids=["influencer", "post"])
def kind(request: pytest.FixtureRequest) -> Kind:
    """Each test that takes `kind` runs once per task kind."""
    kind: Kind = request.param
    return kind
