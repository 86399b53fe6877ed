"""Reads and writes of the `task` table."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Result,
    Select,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import (
    POST_DETAILS,
    InfluencerMetricsHistory,
    MediaType,
    PostMetricsHistory,
    Task,
    TaskHealth,
    TaskStatus,
    TaskTag,
    TaskType,
    target_of,
)
from shared.repositories.driver import DriverReads

MAX_ERROR_LENGTH = 2000
# Rows per INSERT of create_many: well under max_allowed_packet, few round trips.
BULK_INSERT_CHUNK = 5000


# A locking read sees the row as last committed (not as of the transaction's snapshot) and
# holds it until the transaction ends: "update" so that no one else changes it meanwhile,
# "share" when others only read it too.
RowLock = Literal["share", "update"]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task as the API's reads see it, found by the driver (see shared/repositories/driver.py):
    the task table's columns of the same names."""

    id: str
    task_type: TaskType
    username: str | None
    post_code: str | None
    status: TaskStatus
    interval_seconds: int
    created_at: datetime
    user_id: int | None
    post_id: str | None
    track_posts: bool
    owner_username: str | None
    published_at: datetime | None
    media_type: MediaType | None
    caption: str | None

    @property
    def target(self) -> str:
        """The username or post code this task watches."""
        return target_of(self.task_type, self.username, self.post_code)


_RECORD_COLUMNS = [getattr(Task, field.name) for field in fields(TaskRecord)]


# The lookups of the read paths are built once: building a statement cost more of the API's
# CPU than sending it and reading the row back.
def _task_by_target(task_type: TaskType) -> Select[Any]:
    column = Task.username if task_type is TaskType.INFLUENCER else Task.post_code
    return select(*_RECORD_COLUMNS).where(
        Task.task_type == task_type, column == bindparam("target")
    )


TASK_BY_TARGET = {task_type: _task_by_target(task_type) for task_type in TaskType}
# Two tasks may have learnt the same Instagram id (a renamed profile watched under both
# names); the oldest answers (tasks created together: the lower id).
TASK_BY_USER_ID = (
    select(*_RECORD_COLUMNS)
    .where(Task.task_type == TaskType.INFLUENCER, Task.user_id == bindparam("user_id"))
    .order_by(Task.created_at, Task.id)
    .limit(1)
)


async def task_by_target(reads: DriverReads, task_type: TaskType, target: str) -> TaskRecord | None:
    """The task watching this username (influencer) or post code (post)."""
    return _record(await reads.typed_rows(TASK_BY_TARGET[task_type], {"target": target}))


async def task_by_user_id(reads: DriverReads, user_id: int) -> TaskRecord | None:
    """The influencer task whose profile has this Instagram id."""
    return _record(await reads.typed_rows(TASK_BY_USER_ID, {"user_id": user_id}))


def _record(rows: Sequence[Sequence[Any]]) -> TaskRecord | None:
    return TaskRecord(*rows[0]) if rows else None


# A task with whether its slot already has a history row (of either kind), in one round trip;
# built once, as the collector runs it for every job.
TASK_WITH_SLOT_RECORDED = select(
    Task,
    or_(
        *(
            exists().where(model.task_id == Task.id, model.scheduled_for == bindparam("slot"))
            for model in (InfluencerMetricsHistory, PostMetricsHistory)
        )
    ),
).where(Task.id == bindparam("task_id"))


def _success_values(now: object) -> dict[str, object]:
    return {
        "last_run_at": now,
        "last_success_at": now,
        "consecutive_failures": 0,
        "last_error": None,
        "health": TaskHealth.OK,
    }


# A good fetch: the failure count reset, the Instagram ids it learnt (None keeps the one
# stored), and a post's details where the task has none yet: they are kept as first read, so a
# later edit of the caption does not rewrite what the task says. Core, not ORM: the collector
# runs it for many tasks at once (an executemany).
RECORD_SUCCESS = (
    update(cast(Table, Task.__table__))
    .where(Task.id == bindparam("task_id"))
    .values(
        **_success_values(bindparam("now")),
        user_id=func.coalesce(bindparam("user_id"), Task.user_id),
        post_id=func.coalesce(bindparam("post_id"), Task.post_id),
        **{
            name: func.coalesce(
                getattr(Task, name), bindparam(name, type_=getattr(Task, name).type)
            )
            for name in POST_DETAILS
        },
    )
)


def success_values(
    task_id: str,
    *,
    now: datetime,
    user_id: int | None = None,
    post_id: str | None = None,
    owner_username: str | None = None,
    published_at: datetime | None = None,
    media_type: MediaType | None = None,
    caption: str | None = None,
) -> dict[str, object]:
    """One task's parameters of `record_each_success`: all of them, None where not learnt."""
    return {
        "task_id": task_id,
        "now": now,
        "user_id": user_id,
        "post_id": post_id,
        "owner_username": owner_username,
        "published_at": published_at,
        "media_type": media_type,
        "caption": caption,
    }


# A task's tags in the same row as the task, one round trip for any number of tasks: joined
# with ',', which no tag contains (shared/tags.py). 20 tags of 50 characters fit MySQL's
# default group_concat_max_len of 1024 bytes.
TAGS = (
    select(func.group_concat(TaskTag.tag))
    .where(TaskTag.task_id == Task.id)
    .correlate(Task)
    .scalar_subquery()
)


def _listed(
    task_type: TaskType, status: TaskStatus | None, tag: str | None, contains: str | None
) -> list[ColumnElement[bool]]:
    """The conditions of a task listing's filters."""
    conditions = [Task.task_type == task_type]
    if status is not None:
        conditions.append(Task.status == status)
    if tag is not None:
        conditions.append(Task.id.in_(select(TaskTag.task_id).where(TaskTag.tag == tag)))
    if contains:
        # Post codes compare case-sensitively everywhere else; a search box does not.
        column = Task.username if task_type is TaskType.INFLUENCER else func.lower(Task.post_code)
        conditions.append(column.contains(contains.lower(), autoescape=True))
    return conditions


def _tagged(result: Result[Task, str | None]) -> list["TaggedTask"]:
    """(task, joined tags) rows as TaggedTasks."""
    return [TaggedTask(task, sorted(tags.split(",")) if tags else []) for task, tags in result]


@dataclass(frozen=True, slots=True)
class TaggedTask:
    """A task and its tags, sorted."""

    task: Task
    tags: list[str]


@dataclass(frozen=True, slots=True)
class PagePosition:
    """Where a page of the task list ends: the last task's creation time and id."""

    created_at: datetime
    task_id: str


class TargetAlreadyMonitored(Exception):
    """Another task watches the same username or post code."""


@dataclass(frozen=True, slots=True)
class DueSlot:
    """A claimed task and the slot it is due for."""

    task_id: str
    scheduled_for: datetime


@dataclass(frozen=True, slots=True)
class OutcomeState:
    """What recording a collection's outcome reads of its task, locked until commit."""

    health: TaskHealth
    consecutive_failures: int
    interval_seconds: int
    claimed_slot: datetime | None
    # The username or post code: what the task's events name.
    target: str


class TaskRepository:
    """Task queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, task_id: str, *, lock: RowLock | None = None) -> Task | None:
        """The task with this id, if any (see RowLock for `lock`)."""
        return await self.session.get(
            Task,
            task_id,
            with_for_update=None if lock is None else {"read": lock == "share"},
            populate_existing=lock is not None,
        )

    async def get_with_slot_recorded(
        self, task_id: str, scheduled_for: datetime
    ) -> tuple[Task, bool] | None:
        """The task, and whether its slot already has a history row, in one round trip."""
        parameters = {"task_id": task_id, "slot": scheduled_for}
        row = (await self.session.execute(TASK_WITH_SLOT_RECORDED, parameters)).first()
        return None if row is None else (row[0], bool(row[1]))

    async def get_many(self, task_ids: Sequence[str]) -> list[Task]:
        """The tasks with these ids that exist, in no particular order."""
        if not task_ids:
            return []
        return list(await self.session.scalars(select(Task).where(Task.id.in_(task_ids))))

    async def list_by_type(self, task_type: TaskType) -> list[Task]:
        """Every task of one kind, oldest first."""
        rows = await self.session.scalars(
            select(Task).where(Task.task_type == task_type).order_by(Task.created_at, Task.id)
        )
        return list(rows)

    async def list_tagged(
        self,
        task_type: TaskType,
        *,
        status: TaskStatus | None = None,
        tag: str | None = None,
        contains: str | None = None,
        after: PagePosition | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[TaggedTask]:
        """Tasks of one kind with their tags, oldest first (then by id), optionally only those
        with a status, a tag or a target containing `contains`, after a position (or past the
        first `offset`), at most `limit` of them."""
        query = select(Task, TAGS).where(*_listed(task_type, status, tag, contains))
        if after is not None:
            # Spelt out rather than as a row comparison, which MariaDB does not use an index for.
            query = query.where(
                or_(
                    Task.created_at > after.created_at,
                    (Task.created_at == after.created_at) & (Task.id > after.task_id),
                )
            )
        query = query.order_by(Task.created_at, Task.id).offset(offset or None).limit(limit)
        return _tagged(await self.session.execute(query))

    async def count_listed(
        self,
        task_type: TaskType,
        *,
        status: TaskStatus | None = None,
        tag: str | None = None,
        contains: str | None = None,
    ) -> int:
        """How many tasks `list_tagged` lists with these filters and no limit."""
        query = select(func.count()).where(*_listed(task_type, status, tag, contains))
        return await self.session.scalar(query) or 0

    async def tags_in_use(self, task_type: TaskType) -> list[str]:
        """The tags that tasks of one kind carry, sorted."""
        query = (
            select(TaskTag.tag)
            .join(Task, Task.id == TaskTag.task_id)
            .where(Task.task_type == task_type)
            .distinct()
            .order_by(TaskTag.tag)
        )
        return list(await self.session.scalars(query))

    async def get_tagged(self, task_ids: Sequence[str]) -> list[TaggedTask]:
        """The tasks with these ids that exist, with their tags, in no particular order."""
        if not task_ids:
            return []
        query = select(Task, TAGS).where(Task.id.in_(task_ids))
        return _tagged(await self.session.execute(query.execution_options(populate_existing=True)))

    async def lock_many(
        self, task_type: TaskType, *, task_ids: Sequence[str] = (), tag: str | None = None
    ) -> list[Task]:
        """Lock (see RowLock, "update") the tasks of one kind with these ids, or with this tag."""
        if tag is not None:
            # Read first, then lock by primary key: a locking read of the tag's range would
            # hold its gaps too, and deadlock with requests adding tags next to it.
            task_ids = list(
                await self.session.scalars(select(TaskTag.task_id).where(TaskTag.tag == tag))
            )
        if not task_ids:
            return []
        query = (
            select(Task)
            .where(Task.id.in_(task_ids), Task.task_type == task_type)
            .order_by(Task.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list(await self.session.scalars(query))

    async def lock_targets(self, task_type: TaskType, targets: Sequence[str]) -> list[Task]:
        """Lock (see RowLock, "update") the tasks that watch these usernames or post codes."""
        if not targets:
            return []
        column = Task.username if task_type is TaskType.INFLUENCER else Task.post_code
        query = (
            select(Task)
            .where(Task.task_type == task_type, column.in_(targets))
            .order_by(column)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list(await self.session.scalars(query))

    async def get_tagged_targets(
        self, task_type: TaskType, targets: Sequence[str]
    ) -> list[TaggedTask]:
        """The tasks watching these usernames or post codes, with their tags."""
        if not targets:
            return []
        column = Task.username if task_type is TaskType.INFLUENCER else Task.post_code
        query = select(Task, TAGS).where(Task.task_type == task_type, column.in_(targets))
        return _tagged(await self.session.execute(query.execution_options(populate_existing=True)))

    async def insert_missing(
        self,
        task_type: TaskType,
        due: Mapping[str, datetime],
        *,
        interval_seconds: int,
        now: datetime,
        track_posts: bool = False,
    ) -> dict[str, str]:
        """Insert an active task per target, due at its time, skipping targets another task
        already watches (one statement); the id each target would get if inserted."""
        ids = {target: str(uuid.uuid4()) for target in due}
        rows = [
            {
                "id": ids[target],
                "task_type": task_type,
                "username": target if task_type is TaskType.INFLUENCER else None,
                "post_code": target if task_type is TaskType.POST else None,
                "interval_seconds": interval_seconds,
                "status": TaskStatus.ACTIVE,
                "created_at": now,
                "updated_at": now,
                "next_run_at": due_at,
                "consecutive_failures": 0,
                "track_posts": track_posts,
            }
            # In key order, as every writer takes the unique keys' locks: no lock cycles.
            for target, due_at in sorted(due.items())
        ]
        if rows:
            await self.session.execute(insert(Task).prefix_with("IGNORE"), rows)
        return ids

    async def reactivate_many(
        self,
        due: Mapping[str, datetime],
        *,
        interval_seconds: int,
        now: datetime,
        track_posts: bool = False,
    ) -> None:
        """Turn stopped tasks (by id) back on with a new interval (and whether they sample
        posts), each due at its time."""
        if not due:
            return
        # One statement for them all: each task's time picked by its id.
        await self.session.execute(
            update(Task)
            .where(Task.id.in_(list(due)))
            .values(
                status=TaskStatus.ACTIVE,
                interval_seconds=interval_seconds,
                track_posts=track_posts,
                next_run_at=case(
                    {task_id: literal(at, Task.next_run_at.type) for task_id, at in due.items()},
                    value=Task.id,
                ),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )

    async def set_tags(self, task_ids: Sequence[str], tags: Sequence[str]) -> None:
        """Give each of these tasks (locked by the caller) exactly these tags."""
        if not task_ids:
            return
        # Only the rows that change, each by its whole primary key: deleting by a range would
        # lock the gaps around it and deadlock with requests tagging neighbouring tasks.
        rows = await self.session.execute(
            select(TaskTag.task_id, TaskTag.tag).where(TaskTag.task_id.in_(task_ids))
        )
        current = {(task_id, tag) for task_id, tag in rows}
        wanted = {(task_id, tag) for task_id in task_ids for tag in tags}
        if gone := sorted(current - wanted):
            await self.session.execute(
                delete(TaskTag).where(tuple_(TaskTag.task_id, TaskTag.tag).in_(gone))
            )
        if new := sorted(wanted - current):
            await self.session.execute(
                insert(TaskTag), [{"task_id": task_id, "tag": tag} for task_id, tag in new]
            )

    async def set_interval(
        self, task: Task, interval_seconds: int, *, next_run_at: datetime, now: datetime
    ) -> None:
        """Give a task a new interval, its next slot at `next_run_at`."""
        task.interval_seconds = interval_seconds
        task.next_run_at = next_run_at
        task.updated_at = now
        await self.session.flush()

    async def create(
        self,
        task_type: TaskType,
        target: str,
        *,
        interval_seconds: int,
        now: datetime,
        track_posts: bool = False,
    ) -> Task:
        """Insert an active task due at once; raise TargetAlreadyMonitored on a duplicate."""
        task = Task(
            track_posts=track_posts,
            task_type=task_type,
            username=target if task_type is TaskType.INFLUENCER else None,
            post_code=target if task_type is TaskType.POST else None,
            interval_seconds=interval_seconds,
            status=TaskStatus.ACTIVE,
            created_at=now,
            updated_at=now,
            next_run_at=now,
            consecutive_failures=0,
            health=TaskHealth.PENDING,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(task)
        except IntegrityError as error:
            raise TargetAlreadyMonitored(target) from error
        return task

    async def create_many(
        self,
        usernames: Sequence[str],
        *,
        interval_seconds: int,
        next_run_at: Sequence[datetime],
        now: datetime,
        status: TaskStatus = TaskStatus.ACTIVE,
    ) -> list[str]:
        """Insert one influencer task per username, due at the matching time; their ids.

        For loading many tasks at once (benchmarks, tests, imports): one INSERT per chunk.
        """
        rows = [
            {
                "id": str(uuid.uuid4()),
                "task_type": TaskType.INFLUENCER,
                "username": username,
                "interval_seconds": interval_seconds,
                "status": status,
                "created_at": now,
                "updated_at": now,
                "next_run_at": due,
                "consecutive_failures": 0,
                "health": TaskHealth.PENDING,
            }
            for username, due in zip(usernames, next_run_at, strict=True)
        ]
        for start in range(0, len(rows), BULK_INSERT_CHUNK):
            await self.session.execute(insert(Task), rows[start : start + BULK_INSERT_CHUNK])
        return [str(row["id"]) for row in rows]

    async def reactivate(
        self, task: Task, *, interval_seconds: int, now: datetime, track_posts: bool = False
    ) -> Task:
        """Turn a stopped task back on with a new interval (and track_posts), due at once."""
        task.interval_seconds = interval_seconds
        task.track_posts = track_posts
        task.status = TaskStatus.ACTIVE
        task.next_run_at = now
        task.updated_at = now
        await self.session.flush()
        return task

    async def set_status(
        self, task: Task, status: TaskStatus, *, now: datetime, next_run_at: datetime | None = None
    ) -> Task:
        """Change a task's status (and, on resume, when it next runs)."""
        task.status = status
        task.updated_at = now
        if next_run_at is not None:
            task.next_run_at = next_run_at
        await self.session.flush()
        return task

    async def set_status_many(
        self,
        task_ids: Sequence[str],
        status: TaskStatus,
        *,
        now: datetime,
        next_run_at: datetime | None = None,
    ) -> None:
        """Give many tasks one status in a single statement (and, on resume, when they run)."""
        if not task_ids:
            return
        values: dict[str, object] = {"status": status, "updated_at": now}
        if next_run_at is not None:
            values["next_run_at"] = next_run_at
        await self.session.execute(
            update(Task)
            .where(Task.id.in_(task_ids))
            .values(values)
            .execution_options(synchronize_session="evaluate")
        )

    async def claim_due(self, *, now: datetime, limit: int) -> list[DueSlot]:
        """Lock up to `limit` due active tasks that no other transaction holds."""
        rows = await self.session.execute(
            select(Task.id, Task.next_run_at)
            .where(Task.status == TaskStatus.ACTIVE, Task.next_run_at <= now)
            .order_by(Task.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [DueSlot(task_id, slot) for task_id, slot in rows]

    async def advance(self, task_ids: list[str], *, now: datetime, lease: timedelta) -> None:
        """Note each task's due slot as in flight and move `next_run_at` forward by whole
        intervals to the first slot after now.

        Counting from the old slot, not from now, keeps the grid fixed (no drift); jumping past
        every missed slot coalesces an outage into one run instead of a burst. The claim is
        checked again after `lease`, or half an interval if that is shorter, so that a lost job
        is found before its next slot replaces it.
        """
        if not task_ids:
            return
        elapsed = func.timestampdiff(literal_column("SECOND"), Task.next_run_at, bindparam("now"))
        periods = func.floor(elapsed / Task.interval_seconds) + 1
        check_after = func.least(bindparam("lease"), Task.interval_seconds / 2)
        await self.session.execute(
            update(Task)
            .where(Task.id.in_(task_ids))
            # In this order: MySQL assigns left to right, and the claim takes the slot being
            # replaced.
            .ordered_values(
                (Task.claimed_slot, Task.next_run_at),
                (
                    Task.claim_expires_at,
                    func.timestampadd(literal_column("SECOND"), check_after, bindparam("now")),
                ),
                (
                    Task.next_run_at,
                    func.timestampadd(
                        literal_column("SECOND"), periods * Task.interval_seconds, Task.next_run_at
                    ),
                ),
            )
            .execution_options(synchronize_session=False),
            {"now": now, "lease": lease.total_seconds()},
        )

    async def claim_lapsed(self, *, now: datetime, limit: int) -> list[DueSlot]:
        """Lock up to `limit` active tasks whose slot in flight is due a check."""
        rows = await self.session.execute(
            select(Task.id, Task.claimed_slot)
            .where(Task.claim_expires_at <= now, Task.status == TaskStatus.ACTIVE)
            .order_by(Task.claim_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [DueSlot(task_id, slot) for task_id, slot in rows if slot is not None]

    async def extend_claims(self, task_ids: Sequence[str], *, until: datetime) -> None:
        """Check these tasks' slots in flight again at `until`."""
        if task_ids:
            await self.session.execute(
                update(Task)
                .where(Task.id.in_(task_ids))
                .values(claim_expires_at=until)
                .execution_options(synchronize_session=False)
            )

    async def paused_ids(self) -> list[str]:
        """Every paused task, share-locked: a resume (which locks the task before clearing its
        flag) waits until the caller has set the flags and committed."""
        rows = await self.session.scalars(
            select(Task.id).where(Task.status == TaskStatus.PAUSED).with_for_update(read=True)
        )
        return list(rows)

    async def lock_outcome_states(self, task_ids: Sequence[str]) -> dict[str, OutcomeState]:
        """Lock these tasks (in id order, as every writer does) for recording outcomes."""
        if not task_ids:
            return {}
        rows = await self.session.execute(
            select(
                Task.id,
                Task.health,
                Task.consecutive_failures,
                Task.interval_seconds,
                Task.claimed_slot,
                func.coalesce(Task.username, Task.post_code),
            )
            .where(Task.id.in_(sorted(task_ids)))
            .order_by(Task.id)
            .with_for_update()
        )
        return {row[0]: OutcomeState(*row[1:]) for row in rows}

    async def release_claims(self, task_ids: Sequence[str]) -> None:
        """Forget these tasks' slots in flight: their outcome is recorded."""
        if task_ids:
            await self.session.execute(
                update(Task)
                .where(Task.id.in_(task_ids))
                .values(claimed_slot=None, claim_expires_at=None)
                .execution_options(synchronize_session=False)
            )

    async def release_claim(self, task_id: str, slot: datetime) -> None:
        """Forget the task's slot in flight if it is still `slot`: its job ended without a
        record (skipped or dropped)."""
        await self.session.execute(
            update(Task)
            .where(Task.id == task_id, Task.claimed_slot == slot)
            .values(claimed_slot=None, claim_expires_at=None)
            .execution_options(synchronize_session=False)
        )

    async def record_success(
        self,
        task_id: str,
        *,
        now: datetime,
        user_id: int | None = None,
        post_id: str | None = None,
    ) -> None:
        """Note a good fetch: reset the failure count, remember the target's Instagram id."""
        await self.record_each_success(
            [success_values(task_id, now=now, user_id=user_id, post_id=post_id)]
        )

    async def record_each_success(self, successes: Sequence[dict[str, object]]) -> None:
        """record_success for many tasks, in their order: dicts of `success_values`."""
        if successes:
            await self.session.execute(RECORD_SUCCESS, successes)

    async def record_successes(self, task_ids: Sequence[str], *, now: datetime) -> None:
        """Note a good fetch for many tasks in one statement (their ids already known)."""
        if not task_ids:
            return
        await self.session.execute(
            update(Task)
            .where(Task.id.in_(task_ids))
            .values(_success_values(now))
            .execution_options(synchronize_session=False)
        )

    async def record_failure(
        self,
        task_id: str,
        *,
        now: datetime,
        error: str,
        health: TaskHealth,
        consecutive_failures: int,
        retry_at: datetime | None = None,
    ) -> None:
        """Note a failed fetch and why (the message must already be free of secrets), and the
        task's health after it; `retry_at` puts the next slot off until then at least."""
        values: dict[str, object] = {
            "last_run_at": now,
            "consecutive_failures": consecutive_failures,
            "last_error": error[:MAX_ERROR_LENGTH],
            "health": health,
        }
        if retry_at is not None:
            values["next_run_at"] = func.greatest(Task.next_run_at, retry_at)
        await self.session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
