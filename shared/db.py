"""Async engine and session factory, created by each process at start-up."""

import asyncio

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.migrate import head_revision
from shared.settings import Settings

log = structlog.get_logger()


def create_engine(settings: Settings, **overrides: object) -> AsyncEngine:
    """Build the process's one engine; the caller disposes of it at shutdown."""
    options: dict[str, object] = {
        "pool_pre_ping": True,
        "pool_recycle": settings.database_pool_recycle_seconds,
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_pool_size,
    }
    options.update(overrides)
    return create_async_engine(settings.database_url, **options)


class SchemaNotCurrent(Exception):
    """The database answers, but is not migrated to the revision this code needs."""


async def check_schema(engine: AsyncEngine) -> None:
    """Raise unless the database answers and is migrated to this code's newest revision
    (readiness probes; during an upgrade, a new process must not use an old schema)."""
    async with engine.connect() as conn:
        revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    if revision != head_revision():
        raise SchemaNotCurrent(
            f"the database schema is at revision {revision} and this version needs "
            f"{head_revision()}: run the migrations"
        )


async def wait_for_schema(engine: AsyncEngine, *, poll_seconds: float = 5.0) -> None:
    """Return once check_schema passes: a worker starting while the database is down, or
    before the migrations of its version have run, waits instead of writing."""
    while True:
        try:
            await check_schema(engine)
            return
        except (SchemaNotCurrent, DBAPIError) as error:
            log.warning("database.not_ready", error=str(error).splitlines()[0])
            await asyncio.sleep(poll_seconds)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit, so callers can still read them."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL when the server does not have it yet; say if it did."""
    url = make_url(database_url)
    name = url.database
    if not name:
        raise ValueError("DATABASE_URL must name a database")
    server = create_async_engine(url.set(database=""), pool_pre_ping=True)
    try:
        async with server.begin() as conn:
            quoted = name.replace("`", "``")
            result = await conn.execute(
                text(f"CREATE DATABASE IF NOT EXISTS `{quoted}` CHARACTER SET utf8mb4")
            )
    finally:
        await server.dispose()
    # MySQL and MariaDB count one row for a database created, none for one that existed.
    return result.rowcount == 1
