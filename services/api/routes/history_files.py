"""History as files, for both kinds: export one target's points or several targets' (CSV or
NDJSON, streamed), and import points from another tracker's file."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from services.api import examples
from services.api.body_limit import IMPORT_PATH_SUFFIX
from services.api.dependencies import export_service, import_service
from services.api.errors import InvalidInput
from services.api.export import ExportFile, ExportFormat, columns
from services.api.history_window import (
    DEFAULT_HISTORY_LIMIT,
    Granularity,
    GranularityQuery,
    HistoryWindow,
    SinceQuery,
    UntilQuery,
    history_window,
)
from services.api.imports import MAX_IMPORT_POINTS
from services.api.responses import documented, error_docs, ok
from shared.models import Task, TaskType
from shared.repositories.tasks import TaskRecord
from shared.schemas import MAX_TASK_IDS, Envelope, HistoryImported, Tag

FormatQuery = Annotated[
    ExportFormat,
    Query(
        alias="format",
        description="`csv`: RFC 4180, a header line, CRLF line ends, empty cells for nulls. "
        "`ndjson`: one JSON object per line, nulls as null.",
    ),
]
TagQuery = Annotated[
    Tag | None, Query(description="Every task of this kind with this tag (or give `task_ids`)")
]
TaskIdsQuery = Annotated[
    str | None,
    Query(
        description=f"Comma-separated ids of tasks of this kind (at most {MAX_TASK_IDS:,}); "
        "their points follow each other in this order",
        examples=[f"{examples.TASK_ID},0d3f5a52-1c7e-4b8e-9a40-6f1f3c2b9d77"],
    ),
]
FILE_EXAMPLES = {
    TaskType.INFLUENCER: (examples.INFLUENCER_CSV, examples.INFLUENCER_NDJSON),
    TaskType.POST: (examples.POST_CSV, examples.POST_NDJSON),
}
SEVERAL_EXAMPLES = {
    TaskType.INFLUENCER: examples.INFLUENCERS_CSV,
    TaskType.POST: examples.POSTS_CSV,
}
EXPORT_DOC = (
    "Oldest first (of one time, the first stored first), streamed: any length of history is "
    "sent in pages without being held in memory. `since`, `until` and `granularity` select "
    "points as in the history view (with `hour` / `day`, the last counted point of each "
    "bucket); there is no `limit`. Not an envelope: the file itself, as an attachment."
)


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """What an export's query string asks for."""

    export_format: ExportFormat
    window: HistoryWindow

    def file(
        self, kind: TaskType, tasks: Sequence[Task | TaskRecord], *, several: bool
    ) -> ExportFile:
        return ExportFile(kind, tasks, self.window, self.export_format, several)


async def export_query(
    export_format: FormatQuery = ExportFormat.CSV,
    since: SinceQuery = None,
    until: UntilQuery = None,
    granularity: GranularityQuery = Granularity.RAW,
) -> ExportQuery:
    """The export routes' shared query parameters; `limit` does not apply (all points)."""
    window = history_window(DEFAULT_HISTORY_LIMIT, since, until, granularity)
    return ExportQuery(export_format, window)


ExportQueryDep = Annotated[ExportQuery, Depends(export_query)]


def task_ids_of(text: str) -> list[str]:
    """The task ids of the `task_ids` parameter, or a 422 saying which is not one."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise InvalidInput.for_field("task_ids", "must name at least one task id")
    if len(ids) > MAX_TASK_IDS:
        raise InvalidInput.for_field("task_ids", f"may name at most {MAX_TASK_IDS} task ids")
    try:
        return [str(uuid.UUID(task_id)) for task_id in ids]
    except ValueError:
        bad = next(task_id for task_id in ids if not _is_uuid(task_id))
        raise InvalidInput.for_field("task_ids", f"{bad!r} is not a task id (a UUID)") from None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _file_responses(kind: TaskType, csv_example: str, ndjson_example: str) -> dict[int | str, Any]:
    names = ",".join(columns(kind, several=False))
    return {
        200: {
            "description": f"The file: columns {names}",
            "headers": {
                "Content-Disposition": {
                    "description": "attachment, with a file name such as "
                    "natgeo-profile-history.csv or CxYQJO8xuC6-post-history-daily.ndjson",
                    "schema": {"type": "string"},
                }
            },
            "content": {
                ExportFormat.CSV.media_type: {
                    "schema": {"type": "string"},
                    "example": csv_example,
                },
                ExportFormat.NDJSON.media_type: {
                    "schema": {"type": "string"},
                    "example": ndjson_example,
                },
            },
        },
        **error_docs(404, 422, 500, 503, codes=examples.HISTORY_FILE_ERRORS),
    }


def add_history_file_routes(
    router: APIRouter,
    kind: TaskType,
    *,
    history_route: str,
    history_parameter: str,
    target_path: Any,
) -> None:
    """Add the export and import routes of one kind to `router`; `target_path` is the history
    routes' path parameter `history_parameter` (a username or id, or a post code)."""
    noun = "profile" if kind is TaskType.INFLUENCER else "post"
    csv_example, ndjson_example = FILE_EXAMPLES[kind]
    fields = columns(kind, several=False)

    async def export(target: target_path, request: Request, query: ExportQueryDep) -> Response:
        service = export_service(request)
        task = await service.target(kind, target)
        return service.response(query.file(kind, [task], several=False))

    export.__doc__ = f"Columns: {', '.join(fields)}. {EXPORT_DOC}"
    router.add_api_route(
        f"/{history_route}/{{{history_parameter}}}/export",
        export,
        methods=["GET"],
        name=f"{history_route}_export",
        response_class=Response,
        responses=_file_responses(kind, csv_example, ndjson_example),
        summary=f"Export a {noun}'s history as a CSV or NDJSON file",
    )

    async def export_several(
        request: Request,
        query: ExportQueryDep,
        task_ids: TaskIdsQuery | None = None,
        tag: TagQuery = None,
    ) -> Response:
        service = export_service(request)
        if (task_ids is None) == (tag is None):
            raise InvalidInput.for_field("task_ids", "give either task_ids or tag, not both")
        if task_ids is not None:
            tasks = await service.tasks(kind, task_ids_of(task_ids))
        else:
            assert tag is not None
            tasks = await service.tagged(kind, tag)
        return service.response(query.file(kind, tasks, several=True))

    export_several.__doc__ = (
        f"The same file for several {noun}s, with a leading "
        f"`{columns(kind, several=True)[0]}` column: those of `task_ids`, in that order, or "
        f"every {noun} with the `tag`, oldest first. An unknown id (or a task of the other "
        f"kind), or a tag no {noun} has, answers 404. {EXPORT_DOC}"
    )
    router.add_api_route(
        "/export",
        export_several,
        methods=["GET"],
        name="export",
        response_class=Response,
        responses=_file_responses(kind, SEVERAL_EXAMPLES[kind], ndjson_example),
        summary=f"Export several {noun}s' history as one CSV or NDJSON file",
    )

    async def import_history(target: target_path, request: Request) -> Any:
        report = await import_service(request).import_points(
            kind, target, await request.body(), request.headers.get("content-type")
        )
        return ok(HistoryImported.model_validate(report, from_attributes=True))

    import_history.__doc__ = (
        f"Points in the export's columns ({', '.join(fields)}; a header line first for CSV, "
        "any order, all but `recorded_at` optional, `source` ignored) or NDJSON objects with "
        f"those keys. At most {MAX_IMPORT_POINTS:,} points per request, and a body of at most "
        "`API_MAX_IMPORT_BODY_BYTES` (413 otherwise, nothing imported). `recorded_at` needs a "
        "zone (Z or an offset); counts are whole numbers ≥ 0, empty or null for unknown. "
        "Points are stored with `source: imported` and count in every view and statistic like "
        "live ones; a point whose `recorded_at` already has one (collected or imported) is "
        "skipped, never replaced, so importing a file twice stores it once. A line that "
        "cannot be read is listed in `invalid` with its line number, and the rest is imported."
    )
    router.add_api_route(
        f"/{history_route}/{{{history_parameter}}}{IMPORT_PATH_SUFFIX}",
        import_history,
        methods=["POST"],
        name=f"{history_route}_import",
        response_model=Envelope[HistoryImported],
        responses=documented(
            examples.HISTORY_IMPORTED, 404, 408, 413, 415, 422, codes=examples.HISTORY_FILE_ERRORS
        ),
        summary=f"Import a {noun}'s history from a CSV or NDJSON file",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {"schema": {"type": "string"}, "example": csv_example},
                    "application/x-ndjson": {
                        "schema": {"type": "string"},
                        "example": ndjson_example,
                    },
                },
            }
        },
    )
