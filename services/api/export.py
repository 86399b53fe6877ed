"""History exports: a target's points (or several targets') as a CSV or NDJSON file, streamed
from MySQL one page at a time, oldest first."""

import csv
import enum
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import StreamingResponse

from services.api.errors import NotFound
from services.api.history import target_named, task_of
from services.api.history_window import HistoryWindow
from shared.models import Task, TaskType
from shared.repositories.driver import DriverReads
from shared.repositories.history import (
    INFLUENCER_HISTORY,
    POINT_JSON_OPTIONS,
    POST_HISTORY,
    HistoryRepository,
    PointKey,
)
from shared.repositories.rollups import Grain
from shared.repositories.tasks import TaskRecord, TaskRepository

log = structlog.get_logger()

# Points per MySQL read: large enough that a round trip is a small share of a page's cost,
# small enough that a page held in memory stays a few megabytes even with long bios.
EXPORT_PAGE_POINTS = 5000
KINDS = {TaskType.INFLUENCER: INFLUENCER_HISTORY, TaskType.POST: POST_HISTORY}
TARGET_COLUMNS = {TaskType.INFLUENCER: "username", TaskType.POST: "post_code"}
# How file names call the kinds, singular for one target and plural for several.
FILE_KINDS = {TaskType.INFLUENCER: ("profile", "profiles"), TaskType.POST: ("post", "posts")}
VIEW_NAMES = {Grain.HOUR: "hourly", Grain.DAY: "daily"}


class ExportFormat(enum.StrEnum):
    """RFC 4180 CSV, or one JSON object per line."""

    CSV = "csv"
    NDJSON = "ndjson"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"


def columns(kind: TaskType, *, several: bool) -> tuple[str, ...]:
    """An export's columns (CSV header, NDJSON keys): the target first when there are several."""
    fields = KINDS[kind].export_fields
    return (TARGET_COLUMNS[kind], *fields) if several else fields


class _CsvPages:
    """Renders pages of rows as CSV: the csv module's default dialect is RFC 4180's (CRLF line
    ends, a field quoted when it holds a comma, quote or line break, quotes doubled); a null
    is an empty cell."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names

    def header(self) -> bytes:
        return self._render([self.names])

    def page(self, rows: Sequence[Sequence[Any]], target: str | None, width: int) -> bytes:
        # Each row ends in the page key's column, which the file leaves out.
        if target is None:
            return self._render(row[:width] for row in rows)
        return self._render((target, *row[:width]) for row in rows)

    @staticmethod
    def _render(rows: Any) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue().encode()


class _NdjsonPages:
    """Renders pages of rows as NDJSON: one point object per line, nulls as null."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names

    def header(self) -> bytes:
        return b""

    def page(self, rows: Sequence[Sequence[Any]], target: str | None, width: int) -> bytes:
        names = self.names
        # zip stops at the shorter: the page key's column after the fields is left out.
        if target is None:
            objects = (dict(zip(names, row, strict=False)) for row in rows)
        else:
            objects = (dict(zip(names, (target, *row), strict=False)) for row in rows)
        return b"".join(orjson.dumps(o, option=POINT_JSON_OPTIONS) + b"\n" for o in objects)


class ExportService:
    """Finds the tasks an export names and streams their points; each page is read in a
    session of its own, so a slow client holds no MySQL connection while it reads."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def target(self, kind: TaskType, name: str) -> TaskRecord:
        """The task of the target a path names, or a 404."""
        async with self.sessions() as session:
            return await task_of(await DriverReads.of_session(session), target_named(kind, name))

    async def tasks(self, kind: TaskType, task_ids: Sequence[str]) -> list[Task]:
        """The tasks of these ids, in the order given; a 404 naming any unknown id (or a task
        of the other kind)."""
        wanted = list(dict.fromkeys(task_ids))
        async with self.sessions() as session:
            found = {
                task.id: task
                for task in await TaskRepository(session).get_many(wanted)
                if task.task_type is kind
            }
        missing = [task_id for task_id in wanted if task_id not in found]
        if missing:
            raise NotFound(
                f"No {kind} task has id {', '.join(missing)}.",
                code="task_not_found",
                details={"not_found_task_ids": missing},
            )
        return [found[task_id] for task_id in wanted]

    async def tagged(self, kind: TaskType, tag: str) -> list[Task]:
        """The tasks of this kind with `tag`, oldest first; a 404 when none has it."""
        async with self.sessions() as session:
            tagged = await TaskRepository(session).list_tagged(kind, tag=tag)
        if not tagged:
            raise NotFound(f"No {kind} task has the tag {tag!r}.", code="task_not_found")
        return [row.task for row in tagged]

    def response(self, export: "ExportFile") -> StreamingResponse:
        """The streamed file of the export's points, as an attachment."""
        return StreamingResponse(
            self.stream(export),
            media_type=export.export_format.media_type,
            headers={"Content-Disposition": f'attachment; filename="{export.file_name}"'},
        )

    async def stream(self, export: "ExportFile") -> AsyncIterator[bytes]:
        """The file of the export, a page of points at a time."""
        history = KINDS[export.kind]
        names = columns(export.kind, several=export.several)
        csv_file = export.export_format is ExportFormat.CSV
        pages = _CsvPages(names) if csv_file else _NdjsonPages(names)
        width = len(history.export_fields)
        header = pages.header()
        if header:
            yield header
        window = export.window
        for task in export.tasks:
            after: PointKey | None = None
            while True:
                try:
                    async with self.sessions() as session:
                        rows, after = await HistoryRepository(session).oldest_points_after(
                            history,
                            task.id,
                            after=after,
                            limit=EXPORT_PAGE_POINTS,
                            since=window.since,
                            until=window.until,
                            grain=window.grain,
                        )
                except Exception as error:
                    # The status line is sent: the client sees the file cut short, the log why.
                    log.warning("api.export_failed", task_id=task.id, error=repr(error))
                    raise
                if rows:
                    yield pages.page(rows, task.target if export.several else None, width)
                if after is None:
                    break


@dataclass(frozen=True)
class ExportFile:
    """What one export sends: the points of `tasks` (of one kind) within `window`."""

    kind: TaskType
    tasks: Sequence[Task | TaskRecord]
    window: HistoryWindow
    export_format: ExportFormat
    # Several targets' file: a leading target column, and a plural name.
    several: bool

    @property
    def file_name(self) -> str:
        # Usernames and post codes are letters, digits, '.', '_' and '-' only: safe in a header.
        singular, plural = FILE_KINDS[self.kind]
        subject = plural if self.several else f"{self.tasks[0].target}-{singular}"
        grain = self.window.grain
        view = "" if grain is None else f"-{VIEW_NAMES[grain]}"
        return f"{subject}-history{view}.{self.export_format}"
