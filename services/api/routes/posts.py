"""The post monitor: /api/v1/instagram/post_monitor/…"""

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.api import examples
from services.api.dependencies import TaskServiceDep, history_service
from services.api.history import PostCodePath
from services.api.history_window import (
    DEFAULT_HISTORY_LIMIT,
    LimitQuery,
    SinceQuery,
    UntilQuery,
    history_window,
)
from services.api.responses import JSON, documented, ok
from services.api.routes.task_actions import add_task_actions, created_task_links, operation_ids
from shared.models import TaskType
from shared.schemas import CreatePostTask, Envelope, PostHistory, PostTaskCreated, PostTaskItem

router = APIRouter(
    prefix="/api/v1/instagram/post_monitor",
    tags=["post monitor"],
    generate_unique_id_function=operation_ids(TaskType.POST),
)


@router.post(
    "/create_monitor_task",
    status_code=201,
    response_model=Envelope[PostTaskCreated],
    responses=documented(
        examples.POST_CREATED,
        400,
        409,
        413,
        422,
        status_code=201,
        links=created_task_links(
            TaskType.POST,
            history="video_history",
            history_parameter="post_code",
            target_field="post_code",
        ),
    ),
    summary="Monitor a post, reel or IGTV video",
)
async def create_monitor_task(
    body: CreatePostTask, tasks: TaskServiceDep
) -> Envelope[PostTaskCreated]:
    """The first collection happens at once. A stopped task for the post is restarted."""
    task = await tasks.create(TaskType.POST, body.post_code, body.interval)
    created = PostTaskCreated(
        task_id=task.id,
        post_code=task.target,
        status=task.status,
        interval_seconds=task.interval_seconds,
    )
    return ok(created, 201)


@router.get(
    "/video_history/{post_code}",
    response_model=Envelope[PostHistory],
    responses=documented(examples.POST_HISTORY, 404, 422),
    summary="A post's history, newest first",
)
async def video_history(
    post_code: PostCodePath,
    request: Request,
    limit: LimitQuery = DEFAULT_HISTORY_LIMIT,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> Response:
    """`play_count` is null for posts that are not videos."""
    window = history_window(limit, since, until)
    body = await history_service(request).post(post_code, window)
    return Response(body, media_type=JSON)


@router.get(
    "/tasks",
    response_model=Envelope[list[PostTaskItem]],
    responses=documented(examples.POST_TASKS),
    summary="Every post task",
)
async def list_tasks(tasks: TaskServiceDep) -> Envelope[list[PostTaskItem]]:
    """Active, paused and stopped, oldest first."""
    items = [
        PostTaskItem(
            task_id=task.id,
            post_code=task.target,
            status=task.status,
            interval_seconds=task.interval_seconds,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )
        for task in await tasks.list_all(TaskType.POST)
    ]
    return ok(items)


add_task_actions(router, TaskType.POST)
