"""Async engine and session factory, created by each process at start-up."""

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.settings import Settings


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


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query (readiness probes)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit, so callers can still read them."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ensure_database(database_url: str) -> None:
    """Create the database named in the URL when the server does not have it yet."""
    url = make_url(database_url)
    name = url.database
    if not name:
        raise ValueError("DATABASE_URL must name a database")
    server = create_async_engine(url.set(database=""), pool_pre_ping=True)
    try:
        async with server.begin() as conn:
            quoted = name.replace("`", "``")
            await conn.execute(
                text(f"CREATE DATABASE IF NOT EXISTS `{quoted}` CHARACTER SET utf8mb4")
            )
    finally:
        await server.dispose()
