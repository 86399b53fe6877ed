"""TaskRepository against the real database."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.models import Task, TaskHealth, TaskStatus, TaskType
from shared.repositories.driver import DriverReads
from shared.repositories.tasks import (
    TargetAlreadyMonitored,
    TaskRepository,
    task_by_target,
    task_by_user_id,
)

NOW = datetime(2026, 11, 21, 12, 0, 0, 250_000, tzinfo=UTC)
LEASE = timedelta(seconds=60)

Sessions = async_sessionmaker[AsyncSession]


async def create(sessions: Sessions, task_type: TaskType, target: str, interval: int = 30) -> Task:
    async with sessions.begin() as session:
        return await TaskRepository(session).create(
            task_type, target, interval_seconds=interval, now=NOW
        )


async def test_create_makes_an_active_task_due_now(sessions: Sessions) -> None:
    task = await create(sessions, TaskType.INFLUENCER, "natgeo", 3600)
    async with sessions() as session:
        stored = await TaskRepository(session).get(task.id)
    assert stored is not None
    assert (stored.username, stored.post_code, stored.status) == ("natgeo", None, "active")
    assert stored.interval_seconds == 3600
    assert stored.next_run_at == NOW == stored.created_at
    assert stored.consecutive_failures == 0
    assert stored.user_id is None
    assert stored.target == "natgeo"


async def test_create_refuses_a_target_already_monitored(sessions: Sessions) -> None:
    await create(sessions, TaskType.POST, "CxYQJO8xuC6")
    with pytest.raises(TargetAlreadyMonitored):
        await create(sessions, TaskType.POST, "CxYQJO8xuC6")
    async with sessions() as session:
        assert len(await TaskRepository(session).list_by_type(TaskType.POST)) == 1


async def test_lookups_by_target_type_and_instagram_id(sessions: Sessions) -> None:
    profile = await create(sessions, TaskType.INFLUENCER, "natgeo")
    post = await create(sessions, TaskType.POST, "CxYQJO8xuC6")
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        await tasks.record_success(profile.id, now=NOW, user_id=2**63 + 5)
    async with sessions() as session:
        tasks = TaskRepository(session)
        reads = await DriverReads.of_session(session)
        found = await task_by_target(reads, TaskType.INFLUENCER, "natgeo")
        assert found is not None
        assert (found.id, found.target, found.user_id) == (profile.id, "natgeo", 2**63 + 5)
        assert (found.task_type, found.status) == (TaskType.INFLUENCER, TaskStatus.ACTIVE)
        assert found.created_at == profile.created_at
        assert found.track_posts is False
        assert await task_by_target(reads, TaskType.POST, "natgeo") is None
        assert (await task_by_target(reads, TaskType.POST, "CxYQJO8xuC6")).id == post.id  # type: ignore[union-attr]
        assert (await task_by_user_id(reads, 2**63 + 5)).id == profile.id  # type: ignore[union-attr]
        assert await task_by_user_id(reads, 1) is None
        assert [t.id for t in await tasks.list_by_type(TaskType.INFLUENCER)] == [profile.id]
        assert await tasks.get("00000000-0000-0000-0000-000000000000") is None


async def test_set_status_and_reactivate(sessions: Sessions) -> None:
    task = await create(sessions, TaskType.INFLUENCER, "natgeo")
    later = NOW + timedelta(minutes=5)
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        stored = await tasks.get(task.id)
        assert stored is not None
        await tasks.set_status(stored, TaskStatus.STOPPED, now=later)
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        stored = await tasks.get(task.id)
        assert stored is not None
        assert (stored.status, stored.updated_at) == (TaskStatus.STOPPED, later)
        await tasks.reactivate(stored, interval_seconds=86400, now=later)
    async with sessions() as session:
        stored = await TaskRepository(session).get(task.id)
    assert stored is not None
    assert (stored.status, stored.interval_seconds, stored.next_run_at) == ("active", 86400, later)


async def test_success_and_failure_update_health_fields(sessions: Sessions) -> None:
    task = await create(sessions, TaskType.POST, "CxYQJO8xuC6")
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        await tasks.record_failure(
            task.id,
            now=NOW,
            error="HTTP 503 " + "x" * 5000,
            health=TaskHealth.FAILING,
            consecutive_failures=1,
        )
        await tasks.record_failure(
            task.id, now=NOW, error="HTTP 503", health=TaskHealth.FAILING, consecutive_failures=2
        )
    async with sessions() as session:
        stored = await TaskRepository(session).get(task.id)
    assert stored is not None
    assert (stored.consecutive_failures, stored.last_error, stored.last_success_at) == (
        2,
        "HTTP 503",
        None,
    )
    async with sessions.begin() as session:
        await TaskRepository(session).record_success(task.id, now=NOW, post_id="3170000000000001")
    async with sessions() as session:
        stored = await TaskRepository(session).get(task.id)
    assert stored is not None
    assert (stored.consecutive_failures, stored.last_error, stored.post_id) == (
        0,
        None,
        "3170000000000001",
    )
    assert stored.last_success_at == stored.last_run_at == NOW


async def test_claim_due_returns_only_active_tasks_that_are_due(sessions: Sessions) -> None:
    due = await create(sessions, TaskType.INFLUENCER, "due")
    paused = await create(sessions, TaskType.INFLUENCER, "paused")
    stopped = await create(sessions, TaskType.INFLUENCER, "stopped")
    future = await create(sessions, TaskType.INFLUENCER, "future")
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        for task, status in ((paused, TaskStatus.PAUSED), (stopped, TaskStatus.STOPPED)):
            stored = await tasks.get(task.id)
            assert stored is not None
            await tasks.set_status(stored, status, now=NOW)
        stored = await tasks.get(future.id)
        assert stored is not None
        await tasks.set_status(
            stored, TaskStatus.ACTIVE, now=NOW, next_run_at=NOW + timedelta(seconds=1)
        )
    async with sessions.begin() as session:
        claimed = await TaskRepository(session).claim_due(now=NOW, limit=100)
    assert [(slot.task_id, slot.scheduled_for) for slot in claimed] == [(due.id, NOW)]


@pytest.mark.parametrize(
    ("late_by", "next_slot_after"),
    [
        (timedelta(0), 30),
        (timedelta(seconds=5), 30),
        (timedelta(seconds=29, microseconds=999_999), 30),
        (timedelta(seconds=30), 60),
        (timedelta(seconds=305), 330),  # ten missed slots become one run
    ],
)
async def test_advance_moves_to_the_first_slot_after_now_on_the_original_grid(
    sessions: Sessions, late_by: timedelta, next_slot_after: int
) -> None:
    task = await create(sessions, TaskType.INFLUENCER, "natgeo", 30)
    async with sessions.begin() as session:
        await TaskRepository(session).advance([task.id], now=NOW + late_by, lease=LEASE)
    async with sessions() as session:
        stored = await TaskRepository(session).get(task.id)
    assert stored is not None
    assert stored.next_run_at == NOW + timedelta(seconds=next_slot_after)


async def test_two_concurrent_claimers_split_2000_due_tasks_without_overlap(
    sessions: Sessions,
) -> None:
    async with sessions.begin() as session:
        task_ids = await TaskRepository(session).create_many(
            [f"user{n}" for n in range(2000)],
            interval_seconds=60,
            next_run_at=[NOW - timedelta(milliseconds=n) for n in range(2000)],
            now=NOW,
        )

    async def claimer() -> list[str]:
        mine: list[str] = []
        while True:
            async with sessions.begin() as session:
                tasks = TaskRepository(session)
                batch = await tasks.claim_due(now=NOW, limit=50)
                if not batch:
                    return mine
                await tasks.advance([slot.task_id for slot in batch], now=NOW, lease=LEASE)
                mine.extend(slot.task_id for slot in batch)
            await asyncio.sleep(0)

    first, second = await asyncio.gather(claimer(), claimer())
    assert first, "the first claimer should have worked"
    assert second, "the second claimer should have worked"
    assert not set(first) & set(second)
    assert len(first) + len(second) == 2000
    assert set(first) | set(second) == set(task_ids)
    async with sessions() as session:
        next_runs = set(await session.scalars(select(Task.next_run_at)))
    assert min(next_runs) > NOW
