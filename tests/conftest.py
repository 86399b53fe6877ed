"""Fixtures shared by the whole suite: a throw-away database and a Redis prefix per test.

The suite talks to the real MariaDB/MySQL and Redis named by TEST_DATABASE_URL and
TEST_REDIS_URL (defaults: the local servers). Each run migrates its own database and drops it
afterwards; each test gets its own Redis prefix, so runs can overlap each other and a running
product.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import migrate
from shared.db import create_engine, create_session_factory
from shared.models import Base
from shared.redis_keys import RedisKeys
from shared.settings import Settings

SERVER_URL = os.environ.get("TEST_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]


def database_url_named(name: str) -> str:
    """The test server's URL pointing at database `name`."""
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop the database named in `url` (used for every database a test run creates)."""
    parsed = make_url(url)
    engine = create_engine(Settings(database_url=url), pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A database of this run's own, migrated to head, dropped at the end."""
    url = database_url_named(f"im_test_{RUN_ID}")
    # Alembic's env runs its own event loop, so it must not run on this one.
    await asyncio.to_thread(migrate.upgrade, url)
    yield url
    await drop_database(url)


def fresh_settings(database_url: str) -> Settings:
    """Settings on the run's database with a Redis prefix nothing else uses."""
    return Settings(
        database_url=database_url,
        redis_url=REDIS_URL,
        redis_prefix=f"imtest.{RUN_ID}.{uuid.uuid4().hex[:8]}",
        tikhub_base_url="https://tikhub.test",
        tikhub_api_key="test-tikhub-key-0123456789",
        api_auth="disabled",
        log_format="console",
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for one test: the run's database and a Redis prefix no other test uses."""
    return fresh_settings(database_url)


@pytest.fixture
def keys(settings: Settings) -> RedisKeys:
    return RedisKeys(settings.redis_prefix)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the run's database; every table is emptied after the test."""
    yield create_session_factory(engine)
    await empty_tables(engine)


async def empty_tables(engine: AsyncEngine) -> None:
    """Truncate every table, so that the next test starts from an empty database."""
    async with engine.begin() as conn:
        await conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(text(f"TRUNCATE TABLE `{table.name}`"))
        await conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A Redis client; every key under the test's prefix is deleted after the test."""
    client = Redis.from_url(settings.redis_url)
    yield client
    await forget_prefix(client, settings.redis_prefix)
    await client.aclose()


async def forget_prefix(client: Redis, prefix: str) -> None:
    """Delete every Redis key under `prefix`."""
    stale = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if stale:
        await client.delete(*stale)
