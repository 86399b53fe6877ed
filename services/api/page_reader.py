"""The newest points of a history, read from its pages in one query on the driver's own pool.

A read that misses the cache (or asks for another `limit`) costs the app a session (a ping,
an ORM query for the task, the history query, a rollback) on top of FastAPI's routing: more
CPU than MySQL's part. This reader answers the common case, the newest N points of a target
named by Instagram id or post code, with one statement that finds the task and its pages
together, on asyncmy connections in autocommit (nothing to roll back, no ping: a connection
that fails is dropped and the read left to the app).
"""

from typing import Any

import asyncmy
import orjson
import structlog
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

from services.api.history import encode_success
from shared.models import Task, TaskType
from shared.repositories.history_pages import (
    INFLUENCER_PAGES,
    POST_PAGES,
    PageKind,
    join_pages,
    pages_for,
    pages_newest_first,
)
from shared.settings import Settings

log = structlog.get_logger()


def _with_target(kind: PageKind, target: Any) -> Select[Any]:
    """The newest pages of a target, each with the target's name as its task has it (NULL
    when no task of this kind watches it)."""
    pages = pages_newest_first(kind, since=False, until=False)
    return pages.with_only_columns(target, *pages.selected_columns)


INFLUENCER_QUERY = _with_target(
    INFLUENCER_PAGES,
    # As TaskRepository.get_by_user_id: two tasks may have learnt one id; the oldest answers.
    select(Task.username)
    .where(Task.task_type == TaskType.INFLUENCER, Task.user_id == bindparam("key"))
    .order_by(Task.created_at, Task.id)
    .limit(1)
    .scalar_subquery(),
)
POST_QUERY = _with_target(
    POST_PAGES,
    select(Task.post_code)
    .where(Task.task_type == TaskType.POST, Task.post_code == bindparam("key"))
    .scalar_subquery(),
)


class PageReader:
    """Answers `GET …/user_history/{id}?limit=N` and `…/video_history/{code}?limit=N`."""

    def __init__(self, pool: Any, influencer: SQLCompiler, post: SQLCompiler) -> None:
        self.pool = pool
        self.influencer_query = influencer
        self.post_query = post

    @classmethod
    async def open(cls, engine: AsyncEngine, settings: Settings) -> "PageReader":
        """A reader with a pool of its own, connected as the engine connects."""
        _, options = engine.dialect.create_connect_args(engine.url)
        pool = await asyncmy.create_pool(
            minsize=0,
            maxsize=settings.database_pool_size,
            pool_recycle=settings.database_pool_recycle_seconds,
            autocommit=True,
            **options,
        )
        compile_ = engine.dialect.statement_compiler
        return cls(
            pool,
            compile_(engine.dialect, INFLUENCER_QUERY),
            compile_(engine.dialect, POST_QUERY),
        )

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()

    async def influencer(self, user_id: int, limit: int) -> bytes | None:
        """The success body of a profile's newest `limit` points; None when the app must
        answer (no such task, no points yet, or MySQL failing)."""
        found = await self._read(self.influencer_query, user_id, limit)
        if found is None:
            return None
        username, history = found
        return encode_success({"username": username, "history": orjson.Fragment(history)})

    async def post(self, code: str, limit: int) -> bytes | None:
        """The success body of a post's newest `limit` points; None when the app must answer."""
        found = await self._read(self.post_query, code, limit)
        if found is None:
            return None
        # The code as asked for, as the route answers (MySQL may have matched another case).
        _, history = found
        return encode_success({"post_code": code, "history": orjson.Fragment(history)})

    async def _read(self, query: SQLCompiler, key: object, limit: int) -> tuple[str, bytes] | None:
        values = query.construct_params({"key": key, "pages": pages_for(limit)})
        assert query.positiontup is not None, "MySQL's parameters are positional"
        parameters = [values[name] for name in query.positiontup]
        try:
            async with self.pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute(query.string, parameters)
                rows = await cursor.fetchall()
        except (asyncmy.errors.Error, OSError) as error:
            log.warning("api.page_read_failed", error=repr(error))
            return None
        if not rows or rows[0][0] is None:
            return None
        return rows[0][0], join_pages((row[1:] for row in rows), limit=limit)
