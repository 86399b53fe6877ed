"""Task management: create, list, update, status, pause, resume and stop, as design.md
describes them, for one task or many."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.api import errors
from services.api.errors import Conflict, NotFound
from services.api.pause_flags import PauseFlags
from shared.instagram import InvalidInstagramInput
from shared.intervals import Interval
from shared.models import Task, TaskStatus, TaskType, utcnow
from shared.repositories.tasks import PagePosition, RowLock, TaggedTask, TaskRepository

# Many tasks created together start spread over their first interval, so that they do not all
# call TikHub at the same instant, then and at every later slot. Intervals this short spread
# over a few seconds only: a client choosing them wants numbers at once.
SHORT_INTERVAL_SECONDS = 60
SHORT_INTERVAL_SPREAD_SECONDS = 5


def first_runs(now: datetime, interval_seconds: int, count: int) -> list[datetime]:
    """When each of `count` tasks created together first runs: the first at once, the others
    evenly spread after it."""
    window = (
        interval_seconds
        if interval_seconds >= SHORT_INTERVAL_SECONDS
        else min(interval_seconds, SHORT_INTERVAL_SPREAD_SECONDS)
    )
    return [now + timedelta(seconds=window * n / count) for n in range(count)]


@dataclass(frozen=True, slots=True)
class ExistingTask:
    """An input whose target another task already monitors."""

    input: str
    task: Task


@dataclass(frozen=True, slots=True)
class InvalidInput:
    """An input that names no username or post, and why."""

    input: str
    message: str


@dataclass(slots=True)
class CreatedTasks:
    """Where each input of a bulk create landed."""

    created: list[TaggedTask] = field(default_factory=list)
    existing: list[ExistingTask] = field(default_factory=list)
    invalid: list[InvalidInput] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Selected:
    """The tasks a bulk action names: those it acted on, those stopped, the unknown ids."""

    changed: list[str]
    stopped: list[str]
    not_found: list[str]


class TaskService:
    """The rules of a task's life; the request's unit of work commits what it changes."""

    def __init__(self, session: AsyncSession, flags: PauseFlags) -> None:
        self.session = session
        self.tasks = TaskRepository(session)
        self.flags = flags

    async def create(
        self,
        task_type: TaskType,
        target: str,
        interval: Interval,
        tags: list[str] | None,
        *,
        track_posts: bool = False,
    ) -> TaggedTask:
        """A new active task due now, or a stopped one brought back with the new interval (and
        `track_posts`, which only influencer tasks take)."""
        outcome = await self.create_many(
            task_type, [target], str, interval, tags, track_posts=track_posts
        )
        if outcome.existing:
            task = outcome.existing[0].task
            raise Conflict(
                f"{target} is already monitored by {task.status} task {task.id}; "
                "pause, resume or stop that task instead.",
                code="already_monitored",
                details={"task_id": task.id, "status": task.status},
            )
        return outcome.created[0]

    async def create_many(
        self,
        task_type: TaskType,
        inputs: Sequence[str],
        parse: Callable[[str], str],
        interval: Interval,
        tags: list[str] | None,
        *,
        track_posts: bool = False,
    ) -> CreatedTasks:
        """A task for each input's target (`parse` reads it): new ones, and stopped ones
        brought back, with the new interval (and `tags`, when given) in `created`; targets
        already monitored in `existing`; inputs naming none in `invalid`. Inputs naming the
        same target count once, as the first of them."""
        outcome = CreatedTasks()
        inputs_of: dict[str, str] = {}  # target -> the first input naming it
        for raw in dict.fromkeys(inputs):
            try:
                inputs_of.setdefault(parse(raw), raw)
            except InvalidInstagramInput as error:
                outcome.invalid.append(InvalidInput(raw, str(error)))
        # A locking read here sees the rows as committed, without the gap locks of REPEATABLE
        # READ that would make two requests inserting the same new targets deadlock.
        await self.session.connection(execution_options={"isolation_level": "READ COMMITTED"})
        targets = list(inputs_of)
        found = {task.target: task for task in await self.tasks.lock_targets(task_type, targets)}
        starting = [
            target
            for target in targets
            if target not in found or found[target].status is TaskStatus.STOPPED
        ]
        now = utcnow()
        due = dict(zip(starting, first_runs(now, interval.seconds, len(starting)), strict=True))
        stopped = {found[t].id: due[t] for t in starting if t in found}
        # A flag left behind by a stop made while Redis was down would pause it silently.
        await self.flags.clear(list(stopped))
        await self.tasks.reactivate_many(
            stopped, interval_seconds=interval.seconds, now=now, track_posts=track_posts
        )
        # A target another request inserted meanwhile is skipped: it waits for that request
        # to commit, then finds the row there, and lists the target as existing.
        missing = {target: at for target, at in due.items() if target not in found}
        new_ids = await self.tasks.insert_missing(
            task_type, missing, interval_seconds=interval.seconds, now=now, track_posts=track_posts
        )
        ours = set(stopped) | {new_ids[target] for target in missing}
        rows = {
            row.task.target: row for row in await self.tasks.get_tagged_targets(task_type, targets)
        }
        # The tasks this request started: its ids that the read found.
        started = sorted(row.task.id for row in rows.values() if row.task.id in ours)
        if tags is not None:
            await self.tasks.set_tags(started, tags)
        for target, raw in inputs_of.items():
            row = rows[target]
            if row.task.id in ours:
                outcome.created.append(row if tags is None else TaggedTask(row.task, tags))
            else:
                outcome.existing.append(ExistingTask(raw, row.task))
        return outcome

    async def list_page(
        self,
        task_type: TaskType,
        *,
        status: TaskStatus | None,
        tag: str | None,
        after: PagePosition | None,
        limit: int | None,
    ) -> list[TaggedTask]:
        """Tasks of one kind, oldest first, filtered, from a position, at most `limit`."""
        return await self.tasks.list_tagged(
            task_type, status=status, tag=tag, after=after, limit=limit
        )

    async def get(self, task_type: TaskType, task_id: UUID, *, lock: RowLock | None = None) -> Task:
        """The task of this kind with this id; NotFound for unknown ids and the other kind."""
        task = await self.tasks.get(str(task_id), lock=lock)
        if task is None or task.task_type is not task_type:
            raise NotFound(f"No {task_type} task has id {task_id}.", code="task_not_found")
        return task

    async def view(self, task_type: TaskType, task_id: UUID) -> TaggedTask:
        """The task of this kind with this id and its tags; NotFound as `get` says."""
        rows = await self.tasks.get_tagged([str(task_id)])
        if not rows or rows[0].task.task_type is not task_type:
            raise NotFound(f"No {task_type} task has id {task_id}.", code="task_not_found")
        return rows[0]

    async def update(
        self,
        task_type: TaskType,
        task_id: UUID,
        *,
        interval: Interval | None,
        tags: list[str] | None,
        track_posts: bool | None = None,
    ) -> TaggedTask:
        """Change a task's interval, replace its tags, turn its post sampling on or off.

        A new interval starts a fresh grid at the next slot: the one already planned, or, when
        it comes sooner, the last slot plus the new interval (at once if that has passed).
        """
        task = await self._changeable(task_type, task_id, "updated")
        if interval is not None and interval.seconds != task.interval_seconds:
            now = utcnow()
            next_run_at = task.next_run_at
            if task.status is TaskStatus.ACTIVE:
                last_slot = task.next_run_at - timedelta(seconds=task.interval_seconds)
                sooner = max(now, last_slot + timedelta(seconds=interval.seconds))
                next_run_at = min(next_run_at, sooner)
            await self.tasks.set_interval(task, interval.seconds, next_run_at=next_run_at, now=now)
        if tags is not None:
            await self.tasks.set_tags([task.id], tags)
        if track_posts is not None:
            if task_type is not TaskType.INFLUENCER:
                raise errors.InvalidInput.for_field(
                    "track_posts", "only profile tasks sample posts; leave track_posts out"
                )
            task.track_posts = track_posts
        return await self.view(task_type, task_id)

    async def pause(self, task_type: TaskType, task_id: UUID) -> Task:
        """Flag the task in Redis and mark it paused; pausing a paused task changes nothing."""
        task = await self._changeable(task_type, task_id, "paused")
        await self._pause([task])
        return task

    async def resume(self, task_type: TaskType, task_id: UUID) -> Task:
        """Clear the flag, mark the task active and due now; resuming an active task is a no-op."""
        task = await self._changeable(task_type, task_id, "resumed")
        await self._resume([task])
        return task

    async def pause_many(
        self, task_type: TaskType, *, task_ids: Sequence[UUID] = (), tag: str | None = None
    ) -> Selected:
        """`pause` for the tasks with these ids, or with this tag; stopped ones stay stopped."""
        return await self._act_on_many(task_type, task_ids, tag, self._pause)

    async def resume_many(
        self, task_type: TaskType, *, task_ids: Sequence[UUID] = (), tag: str | None = None
    ) -> Selected:
        """`resume` for the tasks with these ids, or with this tag; stopped ones stay stopped."""
        return await self._act_on_many(task_type, task_ids, tag, self._resume)

    async def stop(
        self, task_type: TaskType, *, task_ids: Sequence[UUID] = (), tag: str | None = None
    ) -> tuple[list[str], list[str]]:
        """Stop the tasks of this kind with these ids, or with this tag (history is kept);
        return (stopped ids, unknown ids)."""
        wanted, found = await self._select(task_type, task_ids, tag)
        still_running = [
            task.id for task in found.values() if task.status is not TaskStatus.STOPPED
        ]
        await self.tasks.set_status_many(still_running, TaskStatus.STOPPED, now=utcnow())
        stopped = [task_id for task_id in wanted if task_id in found]
        await self.flags.clear_if_possible(stopped)
        return stopped, [task_id for task_id in wanted if task_id not in found]

    async def _pause(self, tasks: Sequence[Task]) -> None:
        # The flag first: the collector checks it before any work, and a pause that fails
        # after it is retried by the client.
        await self.flags.set([task.id for task in tasks])
        running = [task.id for task in tasks if task.status is not TaskStatus.PAUSED]
        await self.tasks.set_status_many(running, TaskStatus.PAUSED, now=utcnow())

    async def _resume(self, tasks: Sequence[Task]) -> None:
        # Cleared even for an active task: a pause that failed half-way may have left it set.
        await self.flags.clear([task.id for task in tasks])
        paused = [task.id for task in tasks if task.status is TaskStatus.PAUSED]
        now = utcnow()
        await self.tasks.set_status_many(paused, TaskStatus.ACTIVE, now=now, next_run_at=now)

    async def _act_on_many(
        self,
        task_type: TaskType,
        task_ids: Sequence[UUID],
        tag: str | None,
        action: Callable[[Sequence[Task]], Awaitable[None]],
    ) -> Selected:
        wanted, found = await self._select(task_type, task_ids, tag)
        live = [task for task in found.values() if task.status is not TaskStatus.STOPPED]
        await action(live)
        return Selected(
            changed=[task_id for task_id in wanted if task_id in found and found[task_id] in live],
            stopped=[
                task_id
                for task_id in wanted
                if task_id in found and found[task_id].status is TaskStatus.STOPPED
            ],
            not_found=[task_id for task_id in wanted if task_id not in found],
        )

    async def _select(
        self, task_type: TaskType, task_ids: Sequence[UUID], tag: str | None
    ) -> tuple[list[str], dict[str, Task]]:
        """The ids asked for (each once, in order; by tag: the tagged tasks, oldest first) and
        the tasks of this kind among them, locked."""
        wanted = list(dict.fromkeys(str(task_id) for task_id in task_ids))
        locked = await self.tasks.lock_many(task_type, task_ids=wanted, tag=tag)
        if tag is not None:
            wanted = [
                task.id for task in sorted(locked, key=lambda task: (task.created_at, task.id))
            ]
        return wanted, {task.id: task for task in locked}

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
