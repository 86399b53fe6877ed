"""Group commit: jobs' writes share transactions without sharing each other's failures."""

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError

from services.collector.writer import SlotRecord, SlotWriter
from shared.models import Source, TaskType, utcnow
from shared.repositories.tasks import TaskRepository
from tests.collector.support import Sessions, influencer_rows, make_task, reload, slot_now


def profile_record(task_id: str, followers: int, *, user_id: int | None = None) -> SlotRecord:
    now = utcnow()
    row = {
        "task_id": task_id,
        "scheduled_for": slot_now(),
        "recorded_at": now,
        "source": Source.LIVE,
        "user_id": 25025320,
        "username": "instagram",
        "bio": None,
        "follower_count": followers,
        "following_count": None,
        "post_count": None,
    }
    return SlotRecord(task_id, TaskType.INFLUENCER, slot_now(), row, now, user_id=user_id)


async def test_a_bad_record_fails_alone_and_the_others_are_committed(sessions: Sessions) -> None:
    first, bad, second = [
        await make_task(sessions, TaskType.INFLUENCER, name) for name in ("first", "bad", "second")
    ]
    writer = SlotWriter(sessions)

    results = await asyncio.gather(
        writer.write(profile_record(first.id, 100, user_id=25025320)),
        # An id no BIGINT UNSIGNED can hold: MySQL refuses the task update.
        writer.write(profile_record(bad.id, 200, user_id=2**70)),
        writer.write(profile_record(second.id, 300)),
        return_exceptions=True,
    )

    assert results[0] is None
    assert isinstance(results[1], DBAPIError)
    assert results[2] is None
    assert sorted(row.follower_count or 0 for row in await influencer_rows(sessions)) == [100, 300]
    assert (await reload(sessions, first.id)).user_id == 25025320
    for task_id in (first.id, second.id):
        task = await reload(sessions, task_id)
        assert task.last_success_at is not None
        assert task.consecutive_failures == 0


async def test_a_failure_record_notes_the_error_and_a_fallback_row(sessions: Sessions) -> None:
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    record = profile_record(task.id, 100)
    row = {**(record.row or {}), "source": Source.FALLBACK}
    writer = SlotWriter(sessions)

    await writer.write(
        SlotRecord(task.id, TaskType.INFLUENCER, record.slot, row, record.now, error="HTTP 503")
    )

    [stored] = await influencer_rows(sessions)
    assert stored.source is Source.FALLBACK
    task = await reload(sessions, task.id)
    assert (task.consecutive_failures, task.last_error, task.last_success_at) == (
        1,
        "HTTP 503",
        None,
    )


@pytest.mark.parametrize("count", [1, 250])
async def test_every_write_is_committed_when_it_returns(sessions: Sessions, count: int) -> None:
    tasks = [await make_task(sessions, TaskType.INFLUENCER, f"user{n}") for n in range(count)]
    writer = SlotWriter(sessions)

    await asyncio.gather(*(writer.write(profile_record(t.id, n)) for n, t in enumerate(tasks)))

    assert len(await influencer_rows(sessions)) == count


async def test_recording_a_slot_ends_its_claim_and_only_its_own(sessions: Sessions) -> None:
    done, other = [
        await make_task(sessions, TaskType.INFLUENCER, name) for name in ("done", "other")
    ]
    async with sessions.begin() as session:
        # As the scheduler claims them: each in flight for the slot it was due for.
        await TaskRepository(session).advance(
            [done.id, other.id], now=utcnow(), lease=timedelta(seconds=60)
        )
    writer = SlotWriter(sessions)

    await writer.write(slot_record(done.id, done.next_run_at))
    await writer.write(slot_record(other.id, other.next_run_at - timedelta(seconds=30)))

    assert (await reload(sessions, done.id)).claimed_slot is None
    # A late record of an older slot leaves the newer slot in flight.
    assert (await reload(sessions, other.id)).claimed_slot == other.next_run_at


def slot_record(task_id: str, slot: datetime) -> SlotRecord:
    record = profile_record(task_id, 100)
    return replace(record, slot=slot, row={**(record.row or {}), "scheduled_for": slot})
