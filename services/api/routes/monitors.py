"""The two monitors, /api/v1/instagram/influencer_monitor/… and …/post_monitor/…: one set of
routes over two kinds of target."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from services.api import examples
from services.api.dependencies import (
    TaskServiceDep,
    UsageServiceDep,
    history_service,
    stats_service,
)
from services.api.history import MAX_TARGET_LENGTH, HistoryService
from services.api.history_window import (
    DEFAULT_HISTORY_LIMIT,
    Granularity,
    GranularityQuery,
    HistoryWindow,
    LimitQuery,
    SinceQuery,
    UntilQuery,
    history_window,
)
from services.api.responses import JSON, documented, ok
from services.api.routes.history_files import add_history_file_routes
from services.api.routes.task_actions import add_task_actions, created_task_links, operation_ids
from services.api.stats import DEFAULT_DAYS, MAX_DAYS, StatsService
from services.api.task_pages import CursorQuery, PageSizeQuery, decode_cursor, next_page_link
from services.api.tasks import CreatedTasks
from shared.instagram import (
    SHORTCODE_SCHEMA_PATTERN,
    USERNAME_TEXT,
    parse_post_url,
    parse_username,
)
from shared.models import TaskStatus, TaskType
from shared.repositories.tasks import TaggedTask
from shared.schemas import (
    CreateInfluencerTask,
    CreateInfluencerTasks,
    CreatePostTask,
    CreatePostTasks,
    Envelope,
    ExistingTaskView,
    InfluencerHistory,
    InfluencerTaskCreated,
    InfluencerTaskItem,
    InfluencerTasksCreated,
    InfluencerTaskUpdated,
    InvalidInputView,
    PostHistory,
    PostTaskCreated,
    PostTaskItem,
    PostTasksCreated,
    PostTaskUpdated,
    Tag,
    TaskHealthView,
    UpdateTask,
    UserStats,
    VideoStats,
)


def paged(responses: dict[int | str, Any]) -> dict[int | str, Any]:
    """`responses` of the task list, whose success may carry the next page's link."""
    responses[200]["headers"] = {
        "Link": {
            "description": 'With `limit`, the next page\'s URL as `<URL>; rel="next"` '
            "(RFC 8288); absent on the last page",
            "schema": {"type": "string"},
            "example": "</api/v1/instagram/influencer_monitor/tasks?limit=50&cursor="
            "WyIyMDI2LTExLTIxVDEyOjAwOjAwKzAwOjAwIiwgIjViMGM2YTRlLThmNDMtNGE1Ny05ZDJlLTJmMWQw"
            'YjhlNmMxMSJd>; rel="next"',
        }
    }
    return responses


HistoryRead = Callable[[HistoryService, str, HistoryWindow], Awaitable[bytes]]
StatsRead = Callable[[StatsService, str, Any], Awaitable[BaseModel]]


async def daily_days(
    days: Annotated[
        int,
        Query(ge=1, le=MAX_DAYS, description="How many UTC days `daily` covers, newest first"),
    ] = DEFAULT_DAYS,
) -> int:
    """The profile statistics' `days` parameter."""
    return days


async def no_options() -> None:
    """Post statistics take no parameters."""


async def influencer_stats(service: StatsService, user: str, days: int) -> BaseModel:
    return await service.influencer(user, days)


async def post_stats(service: StatsService, post_code: str, _: None) -> BaseModel:
    return await service.post(post_code)


@dataclass(frozen=True)
class Monitor:
    """What sets one kind's routes apart from the other's."""

    task_type: TaskType
    path: str
    tag: str
    target_field: str  # how bodies and answers name the target
    create_body: type[CreateInfluencerTask] | type[CreatePostTask]
    created: type[InfluencerTaskCreated] | type[PostTaskCreated]
    item: type[InfluencerTaskItem] | type[PostTaskItem]
    updated: type[InfluencerTaskUpdated] | type[PostTaskUpdated]
    bulk_body: type[CreateInfluencerTasks] | type[CreatePostTasks]
    bulk_created: type[InfluencerTasksCreated] | type[PostTasksCreated]
    bulk_inputs_field: str  # how the bulk body names its inputs
    # An input as a client sends it to the target it names (raising InvalidInstagramInput).
    parse_input: Callable[[str], str]
    history: type[InfluencerHistory] | type[PostHistory]
    create_summary: str
    history_route: str
    history_parameter: str
    history_parameter_doc: str
    history_parameter_examples: list[str]
    # Published, not enforced: the parsers' messages say more than a mismatch.
    history_parameter_pattern: str
    history_doc: str
    read: HistoryRead
    stats: type[UserStats] | type[VideoStats]
    stats_route: str
    stats_doc: str
    # The route's own query parameters (a dependency), handed to `read_stats`.
    stats_options: Callable[..., Awaitable[Any]]
    read_stats: StatsRead
    stats_example: Any
    created_example: Any
    history_example: Any
    tasks_example: Any
    updated_example: Any
    bulk_created_example: Any
    # The settings of this kind's tasks beyond the interval, as bodies and answers name them.
    options: tuple[str, ...] = ()

    def answer(self, model: type[BaseModel], tagged: TaggedTask, **fields: Any) -> Any:
        """`model` (a created, listed or updated task) describing `tagged`."""
        task = tagged.task
        return model.model_validate(
            {
                "task_id": task.id,
                self.target_field: task.target,
                "status": task.status,
                "interval_seconds": task.interval_seconds,
                "tags": tagged.tags,
                **{name: getattr(task, name) for name in self.options},
                **fields,
            }
        )

    def bulk_answer(self, outcome: CreatedTasks) -> Any:
        """The bulk create's answer: where each input landed."""
        return self.bulk_created.model_validate(
            {
                "created": [self.answer(self.created, tagged) for tagged in outcome.created],
                "existing": [
                    ExistingTaskView(
                        input=item.input, task_id=item.task.id, status=item.task.status
                    )
                    for item in outcome.existing
                ],
                "invalid": [
                    InvalidInputView(input=item.input, message=item.message)
                    for item in outcome.invalid
                ],
            }
        )


INFLUENCERS = Monitor(
    task_type=TaskType.INFLUENCER,
    path="influencer_monitor",
    tag="influencer monitor",
    target_field="username",
    create_body=CreateInfluencerTask,
    created=InfluencerTaskCreated,
    item=InfluencerTaskItem,
    updated=InfluencerTaskUpdated,
    bulk_body=CreateInfluencerTasks,
    bulk_created=InfluencerTasksCreated,
    bulk_inputs_field="usernames",
    parse_input=parse_username,
    history=InfluencerHistory,
    create_summary="Monitor a profile",
    history_route="user_history",
    history_parameter="user_id",
    history_parameter_doc="The numeric Instagram user id, or the username",
    history_parameter_examples=["25025320", "instagram"],
    # An id (leading zeros allowed) below 10**19, so always within MAX_INSTAGRAM_ID, or a name.
    history_parameter_pattern=f"^(?:0*[1-9][0-9]{{0,18}}|{USERNAME_TEXT})$",
    history_doc="Each point says whether it was fetched live, is the last good value (fallback) "
    "or was imported.",
    read=HistoryService.influencer,
    stats=UserStats,
    stats_route="user_stats",
    stats_doc="Growth over 1, 7 and 30 days, a daily table, the next milestone and unusual days, "
    "from live and imported points only (a fallback point repeats an old value).",
    stats_options=daily_days,
    read_stats=influencer_stats,
    stats_example=examples.USER_STATS,
    created_example=examples.INFLUENCER_CREATED,
    history_example=examples.INFLUENCER_HISTORY,
    tasks_example=examples.INFLUENCER_TASKS,
    options=("track_posts",),
    updated_example=examples.INFLUENCER_UPDATED,
    bulk_created_example=examples.INFLUENCER_BULK_CREATED,
)
POSTS = Monitor(
    task_type=TaskType.POST,
    path="post_monitor",
    tag="post monitor",
    target_field="post_code",
    create_body=CreatePostTask,
    created=PostTaskCreated,
    item=PostTaskItem,
    updated=PostTaskUpdated,
    bulk_body=CreatePostTasks,
    bulk_created=PostTasksCreated,
    bulk_inputs_field="post_urls",
    parse_input=parse_post_url,
    history=PostHistory,
    create_summary="Monitor a post, reel or IGTV video",
    history_route="video_history",
    history_parameter="post_code",
    history_parameter_doc="The post's shortcode, as in instagram.com/p/<code>/ (case-sensitive)",
    history_parameter_examples=["CxYQJO8xuC6"],
    history_parameter_pattern=SHORTCODE_SCHEMA_PATTERN,
    history_doc="`play_count` is null for posts that are not videos.",
    read=HistoryService.post,
    stats=VideoStats,
    stats_route="video_stats",
    stats_doc="Growth over 1 hour, 24 hours and 7 days, its speed and engagement, from live and "
    "imported points only (a fallback point repeats an old value).",
    stats_options=no_options,
    read_stats=post_stats,
    stats_example=examples.VIDEO_STATS,
    created_example=examples.POST_CREATED,
    history_example=examples.POST_HISTORY,
    tasks_example=examples.POST_TASKS,
    updated_example=examples.POST_UPDATED,
    bulk_created_example=examples.POST_BULK_CREATED,
)


def monitor_router(monitor: Monitor) -> APIRouter:
    """The routes of one kind of target."""
    kind = monitor.task_type
    router = APIRouter(
        prefix=f"/api/v1/instagram/{monitor.path}",
        tags=[monitor.tag],
        generate_unique_id_function=operation_ids(kind),
    )
    # Built here, each for its own kind: FastAPI reads the body's model and the answers' models
    # from these annotations.
    create_body = monitor.create_body
    bulk_body = monitor.bulk_body
    created_envelope = Envelope[monitor.created]  # type: ignore[name-defined]
    items_envelope = Envelope[list[monitor.item]]  # type: ignore[name-defined]
    target_path = Annotated[
        str,
        Path(
            alias=monitor.history_parameter,
            max_length=MAX_TARGET_LENGTH,
            description=monitor.history_parameter_doc,
            examples=monitor.history_parameter_examples,
            json_schema_extra={"pattern": monitor.history_parameter_pattern},
        ),
    ]

    @router.post(
        "/create_monitor_task",
        status_code=201,
        response_model=created_envelope,
        responses=documented(
            monitor.created_example,
            400,
            408,
            409,
            413,
            422,
            status_code=201,
            links=created_task_links(
                kind,
                history=monitor.history_route,
                history_parameter=monitor.history_parameter,
                target_field=monitor.target_field,
            ),
        ),
        summary=monitor.create_summary,
    )
    async def create_monitor_task(
        body: create_body,  # type: ignore[valid-type]
        tasks: TaskServiceDep,
        usage: UsageServiceDep,
    ) -> Any:
        """The first collection happens at once. A stopped task for the target is restarted
        with the body's settings. `warnings` says when the active tasks now need more TikHub
        calls than the keys allow."""
        target = getattr(body, monitor.target_field)
        options = {name: getattr(body, name) for name in monitor.options}
        task = await tasks.create(kind, target, body.interval, body.tags, **options)  # type: ignore[attr-defined]
        warnings = await usage.capacity_warnings()
        return ok(monitor.answer(monitor.created, task, warnings=warnings), 201)

    @router.post(
        "/create_monitor_tasks",
        response_model=Envelope[monitor.bulk_created],  # type: ignore[name-defined]
        responses=documented(monitor.bulk_created_example, 400, 408, 413, 422),
        summary=f"Monitor up to 1,000 {'profiles' if kind is TaskType.INFLUENCER else 'posts'}",
    )
    async def create_monitor_tasks(body: bulk_body, tasks: TaskServiceDep) -> Any:  # type: ignore[valid-type]
        """Each input lands in exactly one list: `created` (new tasks, and stopped ones
        restarted), `existing` (already monitored, left as they are) or `invalid` (with why).
        Inputs naming the same target count once, as the first of them. The new tasks' first
        collections are spread over their first interval (intervals under a minute: over a few
        seconds), the first at once; each keeps that place on the grid. One request against
        the rate limit."""
        outcome = await tasks.create_many(
            kind,
            getattr(body, monitor.bulk_inputs_field),
            monitor.parse_input,
            body.interval,  # type: ignore[attr-defined]
            body.tags,  # type: ignore[attr-defined]
            **{name: getattr(body, name) for name in monitor.options},
        )
        return ok(monitor.bulk_answer(outcome))

    @router.post(
        "/update_task/{task_id}",
        response_model=Envelope[monitor.updated],  # type: ignore[name-defined]
        responses=documented(monitor.updated_example, 400, 404, 408, 409, 413, 422),
        summary=f"Change a {kind} task's interval or tags",
    )
    async def update_task(
        task_id: Annotated[UUID, Path(description=f"The id of a {kind} task")],
        body: UpdateTask,
        tasks: TaskServiceDep,
        usage: UsageServiceDep,
    ) -> Any:
        """A new interval takes effect from the next slot, on a fresh grid from it: the next
        slot stays as planned, or comes sooner when the last one plus the new interval is
        sooner (at once if that has passed). New tags replace the old ones. A paused task
        stays paused; a stopped one cannot be changed (409)."""
        tagged = await tasks.update(
            kind, task_id, interval=body.interval, tags=body.tags, track_posts=body.track_posts
        )
        return ok(
            monitor.answer(
                monitor.updated,
                tagged,
                health=TaskHealthView.of(tagged.task),
                usage=await usage.of_task(tagged.task),
                warnings=await usage.capacity_warnings(),
            )
        )

    async def history(
        target: target_path,
        request: Request,
        limit: LimitQuery = DEFAULT_HISTORY_LIMIT,
        since: SinceQuery = None,
        until: UntilQuery = None,
        granularity: GranularityQuery = Granularity.RAW,
    ) -> Response:
        window = history_window(limit, since, until, granularity)
        body = await monitor.read(history_service(request), target, window)
        return Response(body, media_type=JSON)

    history.__doc__ = monitor.history_doc
    router.add_api_route(
        f"/{monitor.history_route}/{{{monitor.history_parameter}}}",
        history,
        methods=["GET"],
        name=monitor.history_route,
        response_model=Envelope[monitor.history],  # type: ignore[name-defined]
        responses=documented(monitor.history_example, 404, 422),
        summary=f"A {'profile' if kind is TaskType.INFLUENCER else 'post'}'s history, newest first",
    )

    add_history_file_routes(
        router,
        kind,
        history_route=monitor.history_route,
        history_parameter=monitor.history_parameter,
        target_path=target_path,
    )

    async def stats(
        target: target_path,
        request: Request,
        options: Annotated[Any, Depends(monitor.stats_options)],
    ) -> Any:
        return ok(await monitor.read_stats(stats_service(request), target, options))

    stats.__doc__ = monitor.stats_doc
    router.add_api_route(
        f"/{monitor.stats_route}/{{{monitor.history_parameter}}}",
        stats,
        methods=["GET"],
        name=monitor.stats_route,
        response_model=Envelope[monitor.stats],  # type: ignore[name-defined]
        responses=documented(monitor.stats_example, 404, 422),
        summary=f"A {'profile' if kind is TaskType.INFLUENCER else 'post'}'s growth statistics",
    )

    @router.get(
        "/tasks",
        response_model=items_envelope,
        responses=paged(documented(monitor.tasks_example, 422)),
        summary=f"Every {kind} task, or a page of them",
    )
    async def list_tasks(
        tasks: TaskServiceDep,
        request: Request,
        response: Response,
        status: Annotated[
            TaskStatus | None, Query(description="Only the tasks with this status")
        ] = None,
        tag: Annotated[Tag | None, Query(description="Only the tasks with this tag")] = None,
        limit: PageSizeQuery = None,
        cursor: CursorQuery = None,
    ) -> Any:
        """Active, paused and stopped, oldest first (then by id). With `limit`, one page; a
        task created while a client pages appears on a later page, never twice."""
        page = await tasks.list_page(
            kind,
            status=status,
            tag=tag,
            after=None if cursor is None else decode_cursor(cursor),
            # One more than the page: whether it exists says if there is a next page.
            limit=None if limit is None else limit + 1,
        )
        if limit is not None:
            link = next_page_link(request.url, page, limit)
            if link is not None:
                response.headers["Link"] = link
            page = page[:limit]
        items = [
            monitor.answer(
                monitor.item,
                tagged,
                created_at=tagged.task.created_at,
                updated_at=tagged.task.updated_at,
                health=TaskHealthView.of(tagged.task),
            )
            for tagged in page
        ]
        return ok(items)

    add_task_actions(router, kind)
    return router
