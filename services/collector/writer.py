"""Group commit: the history rows and task updates of many jobs in one transaction.

A collection's database work is small (one row, one task update), but a transaction of its own
per job (pool checkout with a ping, two statements, a commit) cost a third of the collector's
CPU. Jobs therefore hand their writes to the process's SlotWriter, which commits whatever
arrived within a short window together. Each job still waits for its own write to be committed
before it goes on (to delete the API's cached history), so nothing is acknowledged early.
"""

import asyncio
import contextvars
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.collector.task_health import (
    Health,
    HealthChange,
    Result,
    next_health,
    unavailable_retry_at,
)
from shared.events import EventType, record_event
from shared.models import TaskType
from shared.repositories.history import HistoryRepository
from shared.repositories.post_samples import PostSampleRepository, SampleRecord
from shared.repositories.tasks import OutcomeState, TaskRepository, success_values

log = structlog.get_logger()

# How long the first write waits for others to share its commit: short next to a TikHub call
# (100 ms to seconds); at 300 collections/s it gathers about six. Measured: 2.4 ms of CPU per
# collection instead of 3.5 ms with a transaction per job.
BATCH_WINDOW_SECONDS = 0.02
# The most records one transaction takes; more wait for the next.
MAX_BATCH = 100


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """What one job writes: its history row, if any, and what its task should remember."""

    task_id: str
    task_type: TaskType
    slot: datetime
    row: dict[str, Any] | None
    now: datetime
    # None for a good fetch; otherwise why the slot was not collected.
    error: str | None = None
    # The failure is TikHub saying the target does not exist or is private.
    unavailable: bool = False
    # Instagram ids the fetch learned, only when they differ from the task's.
    user_id: int | None = None
    post_id: str | None = None
    # Post details (payloads.POST_DETAILS) the fetch read that the task does not have yet.
    details: dict[str, Any] = field(default_factory=dict)
    # The creator's posts sampled with this profile fetch, when the slot took a sample.
    sample: SampleRecord | None = None

    @property
    def result(self) -> Result:
        """What the record amounts to for its task's health."""
        if self.error is None:
            return Result.SUCCESS
        return Result.UNAVAILABLE if self.unavailable else Result.FAILED

    @property
    def learned(self) -> bool:
        """Whether the task has more to remember than a good fetch."""
        return self.user_id is not None or self.post_id is not None or bool(self.details)


Pending = tuple[SlotRecord, "asyncio.Future[None]"]


class SlotWriter:
    """Commits jobs' records, many to a transaction when they arrive together."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._pending: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, record: SlotRecord) -> None:
        """Return once `record` is committed; raise what its commit raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            # A context of its own: the job's bound log fields (its task id) are not the batch's.
            self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())
        await future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(BATCH_WINDOW_SECONDS)
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            await self._commit_or_split(batch)

    async def _commit_or_split(self, batch: list[Pending]) -> None:
        try:
            changes = await self._commit([record for record, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            # One bad record, or a deadlock with another process, must not fail the others:
            # each is tried again on its own.
            log.warning("collector.batch_write_failed", records=len(batch), error=repr(error))
            for pending in batch:
                await self._commit_or_split([pending])
            return
        for _, future in batch:
            _settle(future, None)
        for change in changes:
            _report(change)

    async def _commit(self, records: Sequence[SlotRecord]) -> list[HealthChange]:
        successes = [r for r in records if r.error is None]
        async with self.sessions.begin() as session:
            history = HistoryRepository(session)
            tasks = TaskRepository(session)
            # Locked before the history rows are added: their foreign key would share-lock the
            # tasks first, and two transactions upgrading shared locks deadlock.
            states = await tasks.lock_outcome_states([r.task_id for r in records])
            changes = _health_changes(records, states)
            await history.add_influencer_points(_rows(records, TaskType.INFLUENCER))
            await history.add_post_points(_rows(records, TaskType.POST))
            # With the profile row of the same slot: a slot never keeps a sample without it.
            await PostSampleRepository(session).add(
                [r.sample for r in records if r.sample is not None]
            )
            await tasks.record_successes(
                sorted(r.task_id for r in successes if not r.learned),
                now=max((r.now for r in successes), default=records[0].now),
            )
            # In id order like the one above, so that two processes' transactions lock tasks
            # in the same order.
            await tasks.record_each_success(
                [
                    success_values(
                        r.task_id, now=r.now, user_id=r.user_id, post_id=r.post_id, **r.details
                    )
                    for r in sorted(successes, key=lambda r: r.task_id)
                    if r.learned
                ]
            )
            outcomes = sorted(zip(records, changes, strict=True), key=lambda pair: pair[0].task_id)
            for record, change in outcomes:
                if record.error is not None:
                    state = states[record.task_id]
                    retry_at = (
                        unavailable_retry_at(
                            record.slot,
                            interval_seconds=state.interval_seconds,
                            failures=change.current.consecutive_failures,
                        )
                        if record.unavailable
                        else None
                    )
                    await tasks.record_failure(
                        record.task_id,
                        now=record.now,
                        error=record.error,
                        health=change.current.state,
                        consecutive_failures=change.current.consecutive_failures,
                        retry_at=retry_at,
                    )
            for record, change in outcomes:
                if change.event is not None:  # in the outcome's transaction: sent exactly once
                    await record_event(
                        session,
                        EventType(change.event),
                        {
                            "task_id": record.task_id,
                            "target": states[record.task_id].target,
                            "kind": record.task_type,
                            "consecutive_failures": change.current.consecutive_failures,
                            "last_error": record.error,
                        },
                        now=record.now,
                    )
            await tasks.release_claims(
                sorted({r.task_id for r in records if states[r.task_id].claimed_slot == r.slot})
            )
        return changes


def _health_changes(
    records: Sequence[SlotRecord], states: dict[str, OutcomeState]
) -> list[HealthChange]:
    """Each record's health change, in the order of `records`.

    The point where health changes are decided, inside the transaction that commits them
    (with the outbox rows of their webhook events).
    """
    health = {
        task_id: Health(state.health, state.consecutive_failures)
        for task_id, state in states.items()
    }
    changes = []
    for record in records:
        # Two slots of one task in a batch: the second sees the first's effect.
        change = next_health(record.task_id, health[record.task_id], record.result)
        health[record.task_id] = change.current
        changes.append(change)
    return changes


def _report(change: HealthChange) -> None:
    if change.previous.state is not change.current.state or change.event is not None:
        log.info(
            "collector.task_health_changed",
            task_id=change.task_id,
            previous=change.previous.state,
            health=change.current.state,
            consecutive_failures=change.current.consecutive_failures,
            webhook_event=change.event,
        )


def _rows(records: Sequence[SlotRecord], task_type: TaskType) -> list[dict[str, Any]]:
    return [r.row for r in records if r.row is not None and r.task_type is task_type]


def _settle(future: "asyncio.Future[None]", error: BaseException | None) -> None:
    # A job cancelled while it waited no longer wants the answer.
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
