"""Request dependencies: the runtime, the unit of work, the services."""

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.export import ExportService
from services.api.history import HistoryService
from services.api.history_cache import HistoryCache
from services.api.imports import ImportService
from services.api.pause_flags import PauseFlags
from services.api.runtime import Runtime
from services.api.stats import StatsService
from services.api.tasks import TaskService
from services.api.usage import UsageService


def runtime_of(request: Request) -> Runtime:
    """The connections the lifespan opened."""
    return cast(Runtime, request.app.state.runtime)


# Dependencies are `async def` even where nothing is awaited: FastAPI runs a plain `def` in its
# thread pool, one thread hop per dependency per request.


async def get_runtime(request: Request) -> Runtime:
    """The runtime, as a dependency."""
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def unit_of_work(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the route returns, rolled back when it raises."""
    session = runtime.sessions()
    try:
        yield session
        if session.in_transaction():
            await session.commit()
    finally:
        # A session that never ran a statement holds no connection, and closing it would cost
        # a greenlet switch. Otherwise closing rolls back whatever was not committed.
        if session.in_transaction():
            await session.close()


# scope="function": the commit runs before the response is sent, so a failed commit is
# answered as an error instead of a success that did not happen.
SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


async def get_task_service(session: SessionDep, runtime: RuntimeDep) -> TaskService:
    """The task service of this request."""
    return TaskService(session, PauseFlags(runtime.redis, runtime.keys))


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]


async def get_usage_service(session: SessionDep, runtime: RuntimeDep) -> UsageService:
    """The TikHub usage service of this request, in the request's unit of work."""
    return UsageService(session, runtime.redis, runtime.keys, runtime.settings)


UsageServiceDep = Annotated[UsageService, Depends(get_usage_service)]


# Called by the history routes rather than injected: they are the hot path, and each dependency
# FastAPI resolves costs about as much as the Redis read of a cache hit.
def history_service(request: Request) -> HistoryService:
    """The history service of this request; reads check out a connection only on a cache
    miss."""
    return history_service_of(runtime_of(request))


def history_service_of(runtime: Runtime) -> HistoryService:
    """A history service over the runtime's connections."""
    cache = HistoryCache(runtime.batcher, runtime.metrics)
    return HistoryService(runtime.engine, cache, runtime.keys)


def stats_service(request: Request) -> StatsService:
    """The statistics service of this request."""
    runtime = runtime_of(request)
    return StatsService(runtime.engine, runtime.sessions)


def export_service(request: Request) -> ExportService:
    """The history export service of this request; each page it reads opens its own session."""
    return ExportService(runtime_of(request).sessions)


def import_service(request: Request) -> ImportService:
    """The history import service of this request; each batch it stores commits on its own."""
    runtime = runtime_of(request)
    return ImportService(runtime.sessions, runtime.redis, runtime.keys)
