"""The routes both task kinds share: stop_tasks, pause_tasks, resume_tasks, task_status,
pause_task, resume_task."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.routing import APIRoute

from services.api import examples
from services.api.dependencies import TaskServiceDep, UsageServiceDep
from services.api.responses import documented, ok
from services.api.tasks import Selected, TaskService
from shared.models import TaskType
from shared.schemas import (
    Envelope,
    PausedTasks,
    ResumedTasks,
    StoppedTasks,
    TaskHealthView,
    TaskSelection,
    TaskStatusChanged,
    TaskStatusView,
)


def operation_ids(task_type: TaskType) -> Callable[[APIRoute], str]:
    """OpenAPI operation ids such as `influencer_pause_task`, unique across both kinds."""
    return lambda route: f"{task_type}_{route.name}"


def created_task_links(
    task_type: TaskType, *, history: str, history_parameter: str, target_field: str
) -> dict[str, Any]:
    """OpenAPI links from a created task to what a client does next with it."""
    task_id = {"task_id": "$response.body#/data/task_id"}
    return {
        "TaskStatus": {"operationId": f"{task_type}_task_status", "parameters": task_id},
        "PauseTask": {"operationId": f"{task_type}_pause_task", "parameters": task_id},
        "ResumeTask": {"operationId": f"{task_type}_resume_task", "parameters": task_id},
        "StopTasks": {
            "operationId": f"{task_type}_stop_tasks",
            "requestBody": {"task_ids": ["$response.body#/data/task_id"]},
        },
        "History": {
            "operationId": f"{task_type}_{history}",
            "parameters": {history_parameter: f"$response.body#/data/{target_field}"},
        },
    }


BulkStatusChange = Callable[..., Awaitable[Selected]]
BULK_EXAMPLES = {"pause": examples.BULK_PAUSED, "resume": examples.BULK_RESUMED}


def add_bulk_status_change(
    router: APIRouter,
    task_type: TaskType,
    answer: type[PausedTasks] | type[ResumedTasks],
    change: BulkStatusChange,
    verb: str,
) -> None:
    """Add `/{verb}_tasks`: `{verb}_task` for many tasks, named by ids or by a tag."""
    done = f"{verb}d"

    async def bulk_status_change(body: TaskSelection, tasks: TaskServiceDep) -> Any:
        selected = await change(tasks, task_type, task_ids=body.task_ids or (), tag=body.tag)
        return ok(
            answer.model_validate(
                {
                    f"{done}_task_ids": selected.changed,
                    "stopped_task_ids": selected.stopped,
                    "not_found_task_ids": selected.not_found,
                }
            )
        )

    bulk_status_change.__doc__ = (
        f"As `{verb}_task` for each: up to 1,000 tasks by id, or every task with a tag. "
        "Stopped tasks stay stopped and are listed apart, as are unknown ids."
    )
    router.add_api_route(
        f"/{verb}_tasks",
        bulk_status_change,
        methods=["POST"],
        name=f"{verb}_tasks",
        response_model=Envelope[answer],  # type: ignore[valid-type]
        responses=documented(BULK_EXAMPLES[verb], 400, 408, 413, 422),
        summary=f"{verb.capitalize()} {task_type} tasks by id or by tag",
    )


def add_task_actions(router: APIRouter, task_type: TaskType) -> None:
    """Add the shared routes to `router`, acting only on tasks of `task_type`."""
    task_id_param = Annotated[UUID, Path(description=f"The id of a {task_type} task")]
    add_bulk_status_change(router, task_type, PausedTasks, TaskService.pause_many, "pause")
    add_bulk_status_change(router, task_type, ResumedTasks, TaskService.resume_many, "resume")

    @router.post(
        "/stop_tasks",
        response_model=Envelope[StoppedTasks],
        responses=documented(examples.STOPPED, 400, 408, 413, 422),
        summary=f"Stop {task_type} tasks (their history is kept)",
    )
    async def stop_tasks(body: TaskSelection, tasks: TaskServiceDep) -> Envelope[StoppedTasks]:
        """Stop up to 1,000 tasks by id, or every task with a tag; ids that are unknown or of
        the other kind are listed apart."""
        stopped, not_found = await tasks.stop(task_type, task_ids=body.task_ids or (), tag=body.tag)
        return ok(StoppedTasks(deleted_task_ids=stopped, not_found_task_ids=not_found))

    @router.get(
        "/task_status/{task_id}",
        response_model=Envelope[TaskStatusView],
        responses=documented(examples.STATUS, 404, 422),
        summary=f"The status of a {task_type} task",
    )
    async def task_status(
        task_id: task_id_param, tasks: TaskServiceDep, usage: UsageServiceDep
    ) -> Envelope[TaskStatusView]:
        """Active, paused or stopped, its tags, the health of its collections, and its TikHub
        calls and cost today and per day."""
        tagged = await tasks.view(task_type, task_id)
        task = tagged.task
        return ok(
            TaskStatusView(
                status=task.status,
                tags=tagged.tags,
                health=TaskHealthView.of(task),
                usage=await usage.of_task(task),
            )
        )

    @router.post(
        "/pause_task/{task_id}",
        response_model=Envelope[TaskStatusChanged],
        responses=documented(examples.PAUSED, 404, 409, 422),
        summary=f"Pause a {task_type} task",
    )
    async def pause_task(
        task_id: task_id_param, tasks: TaskServiceDep
    ) -> Envelope[TaskStatusChanged]:
        """No collection happens until it is resumed; pausing a paused task changes nothing."""
        task = await tasks.pause(task_type, task_id)
        return ok(TaskStatusChanged(task_id=task.id, status=task.status))

    @router.post(
        "/resume_task/{task_id}",
        response_model=Envelope[TaskStatusChanged],
        responses=documented(examples.RESUMED, 404, 409, 422),
        summary=f"Resume a paused {task_type} task",
    )
    async def resume_task(
        task_id: task_id_param, tasks: TaskServiceDep
    ) -> Envelope[TaskStatusChanged]:
        """The next collection happens at once; resuming an active task changes nothing."""
        task = await tasks.resume(task_type, task_id)
        return ok(TaskStatusChanged(task_id=task.id, status=task.status))
