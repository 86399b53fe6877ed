"""Task management: create, list, status, pause, resume and stop, as design.md describes them."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.api.errors import Conflict, NotFound
from services.api.pause_flags import PauseFlags
from shared.intervals import Interval
from shared.models import Task, TaskStatus, TaskType, utcnow
from shared.repositories.tasks import RowLock, TargetAlreadyMonitored, TaskRepository


class TaskService:
    """The rules of a task's life; the request's unit of work commits what it changes."""

    def __init__(self, session: AsyncSession, flags: PauseFlags) -> None:
        self.tasks = TaskRepository(session)
        self.flags = flags

    async def create(
        self, task_type: TaskType, target: str, interval: Interval, *, track_posts: bool = False
    ) -> Task:
        """A new active task due now, or a stopped one brought back with the new interval (and
        `track_posts`, which only influencer tasks take)."""
        now = utcnow()
        task = await self.tasks.get_by_target(task_type, target)
        if task is None:
            try:
                return await self.tasks.create(
                    task_type,
                    target,
                    interval_seconds=interval.seconds,
                    now=now,
                    track_posts=track_posts,
                )
            except TargetAlreadyMonitored:
                # A concurrent request created it after this transaction's snapshot. The
                # failed insert already holds a shared lock on that row; asking for an
                # exclusive one would deadlock with the other requests that lost the race.
                task = await self.tasks.get_by_target(task_type, target, lock="share")
                assert task is not None, "task rows are never deleted"
        if task.status is TaskStatus.STOPPED:
            # Two requests may both have found it stopped: one restarts it, the other then
            # finds it active.
            task = await self.tasks.get_by_target(task_type, target, lock="update")
            assert task is not None, "task rows are never deleted"
        if task.status is not TaskStatus.STOPPED:
            raise Conflict(
                f"{target} is already monitored by {task.status} task {task.id}; "
                "pause, resume or stop that task instead.",
                code="already_monitored",
                details={"task_id": task.id, "status": task.status},
            )
        # A flag left behind by a stop made while Redis was down would pause it silently.
        await self.flags.clear([task.id])
        return await self.tasks.reactivate(
            task, interval_seconds=interval.seconds, now=now, track_posts=track_posts
        )

    async def list_all(self, task_type: TaskType) -> list[Task]:
        """Every task of one kind, oldest first."""
        return await self.tasks.list_by_type(task_type)

    async def get(self, task_type: TaskType, task_id: UUID, *, lock: RowLock | None = None) -> Task:
        """The task of this kind with this id; NotFound for unknown ids and the other kind."""
        task = await self.tasks.get(str(task_id), lock=lock)
        if task is None or task.task_type is not task_type:
            raise NotFound(f"No {task_type} task has id {task_id}.", code="task_not_found")
        return task

    async def pause(self, task_type: TaskType, task_id: UUID) -> Task:
        """Flag the task in Redis and mark it paused; pausing a paused task changes nothing."""
        task = await self._changeable(task_type, task_id, "paused")
        await self.flags.set(task.id)
        if task.status is not TaskStatus.PAUSED:
            await self.tasks.set_status(task, TaskStatus.PAUSED, now=utcnow())
        return task

    async def resume(self, task_type: TaskType, task_id: UUID) -> Task:
        """Clear the flag, mark the task active and due now; resuming an active task is a no-op."""
        task = await self._changeable(task_type, task_id, "resumed")
        # Cleared even for an active task: a pause that failed half-way may have left it set.
        await self.flags.clear([task.id])
        if task.status is TaskStatus.PAUSED:
            now = utcnow()
            await self.tasks.set_status(task, TaskStatus.ACTIVE, now=now, next_run_at=now)
        return task

    async def stop(
        self, task_type: TaskType, task_ids: Sequence[UUID]
    ) -> tuple[list[str], list[str]]:
        """Stop the tasks of this kind (history is kept); return (stopped ids, unknown ids)."""
        wanted = list(dict.fromkeys(str(task_id) for task_id in task_ids))
        found = {
            task.id: task
            for task in await self.tasks.get_many(wanted)
            if task.task_type is task_type
        }
        stopped = [task_id for task_id in wanted if task_id in found]
        not_found = [task_id for task_id in wanted if task_id not in found]
        still_running = [
            task_id for task_id in stopped if found[task_id].status is not TaskStatus.STOPPED
        ]
        await self.tasks.set_status_many(still_running, TaskStatus.STOPPED, now=utcnow())
        await self.flags.clear_if_possible(stopped)
        return stopped, not_found

    async def _changeable(self, task_type: TaskType, task_id: UUID, action: str) -> Task:
        task = await self.get(task_type, task_id, lock="update")
        if task.status is TaskStatus.STOPPED:
            raise Conflict(
                f"Task {task.id} is stopped, so it cannot be {action}; "
                "create the monitor task again to restart monitoring.",
                code="task_stopped",
                details={"task_id": task.id, "status": task.status},
            )
        return task
