"""Request dependencies: the runtime, the unit of work, the services."""

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.history import HistoryService
from services.api.history_cache import HistoryCache
from services.api.pause_flags import PauseFlags
from services.api.runtime import Runtime
from services.api.tasks import TaskService


def get_runtime(request: Request) -> Runtime:
    """The connections the lifespan opened."""
    return cast(Runtime, request.app.state.runtime)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def unit_of_work(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the route returns, rolled back when it raises."""
    async with runtime.sessions() as session:
        yield session
        await session.commit()


# scope="function": the commit runs before the response is sent, so a failed commit is
# answered as an error instead of a success that did not happen.
SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


def get_task_service(session: SessionDep, runtime: RuntimeDep) -> TaskService:
    """The task service of this request."""
    return TaskService(session, PauseFlags(runtime.redis, runtime.keys))


def get_history_service(session: SessionDep, runtime: RuntimeDep) -> HistoryService:
    """The history service of this request."""
    return HistoryService(session, HistoryCache(runtime.redis, runtime.metrics), runtime.keys)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
HistoryServiceDep = Annotated[HistoryService, Depends(get_history_service)]
