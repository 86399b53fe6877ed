"""The influencer monitor: /api/v1/instagram/influencer_monitor/…"""

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.api import examples
from services.api.dependencies import TaskServiceDep, history_service
from services.api.history import UserPath
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
from shared.schemas import (
    CreateInfluencerTask,
    Envelope,
    InfluencerHistory,
    InfluencerTaskCreated,
    InfluencerTaskItem,
)

router = APIRouter(
    prefix="/api/v1/instagram/influencer_monitor",
    tags=["influencer monitor"],
    generate_unique_id_function=operation_ids(TaskType.INFLUENCER),
)


@router.post(
    "/create_monitor_task",
    status_code=201,
    response_model=Envelope[InfluencerTaskCreated],
    responses=documented(
        examples.INFLUENCER_CREATED,
        400,
        409,
        413,
        422,
        status_code=201,
        links=created_task_links(
            TaskType.INFLUENCER,
            history="user_history",
            history_parameter="user_id",
            target_field="username",
        ),
    ),
    summary="Monitor a profile",
)
async def create_monitor_task(
    body: CreateInfluencerTask, tasks: TaskServiceDep
) -> Envelope[InfluencerTaskCreated]:
    """The first collection happens at once. A stopped task for the profile is restarted."""
    task = await tasks.create(TaskType.INFLUENCER, body.username, body.interval)
    created = InfluencerTaskCreated(
        task_id=task.id,
        username=task.target,
        status=task.status,
        interval_seconds=task.interval_seconds,
    )
    return ok(created, 201)


@router.get(
    "/user_history/{user_id}",
    response_model=Envelope[InfluencerHistory],
    responses=documented(examples.INFLUENCER_HISTORY, 404, 422),
    summary="A profile's history, newest first",
)
async def user_history(
    user_id: UserPath,
    request: Request,
    limit: LimitQuery = DEFAULT_HISTORY_LIMIT,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> Response:
    """Each point says whether it was fetched live or is the last good value (fallback)."""
    window = history_window(limit, since, until)
    body = await history_service(request).influencer(user_id, window)
    return Response(body, media_type=JSON)


@router.get(
    "/tasks",
    response_model=Envelope[list[InfluencerTaskItem]],
    responses=documented(examples.INFLUENCER_TASKS),
    summary="Every influencer task",
)
async def list_tasks(tasks: TaskServiceDep) -> Envelope[list[InfluencerTaskItem]]:
    """Active, paused and stopped, oldest first."""
    items = [
        InfluencerTaskItem(
            task_id=task.id,
            username=task.target,
            status=task.status,
            interval_seconds=task.interval_seconds,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )
        for task in await tasks.list_all(TaskType.INFLUENCER)
    ]
    return ok(items)


add_task_actions(router, TaskType.INFLUENCER)
