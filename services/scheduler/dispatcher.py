"""One batch of the scheduler's work: claim due slots, enqueue their jobs, advance, commit."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scheduler.collector_queue import CollectorQueue
from services.scheduler.pause_flags import PauseFlagRestorer
from shared.repositories.tasks import TaskRepository

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did: slots claimed, jobs enqueued, duplicates arq refused."""

    claimed: int = 0
    enqueued: int = 0
    refused: int = 0

    def __add__(self, other: "BatchResult") -> "BatchResult":
        return BatchResult(
            self.claimed + other.claimed,
            self.enqueued + other.enqueued,
            self.refused + other.refused,
        )


class QueueFiller:
    """Something the scheduler claims in MySQL and queues for the collectors, a batch at a
    time."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], queue: CollectorQueue, *, batch_size: int
    ) -> None:
        self.sessions = sessions
        self.queue = queue
        self.batch_size = batch_size


class Dispatcher(QueueFiller):
    """Turns due tasks into queued jobs, one transaction per batch."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: CollectorQueue,
        flags: PauseFlagRestorer,
        *,
        batch_size: int,
        claim_lease: timedelta,
    ) -> None:
        super().__init__(sessions, queue, batch_size=batch_size)
        self.flags = flags
        self.claim_lease = claim_lease

    async def recover(self, *, now: datetime) -> BatchResult:
        """Put back what Redis lost: the pause flags, and the jobs of slots in flight.

        Each slot in flight whose lease has run out is enqueued again under its own job id:
        refused while its job is still queued or running, so only a vanished job comes back,
        even where arq keeps a result (a job whose data Redis lost ends as a kept "job
        expired" failure), and the collector's check for the slot's row keeps it to one row.
        Its claim is then checked again one lease later, until the collector records the
        slot's outcome.
        """
        restored = await self.flags.restore_if_lost()
        if restored is not None:
            log.info("scheduler.pause_flags_restored", paused_tasks=restored)
        async with self.sessions.begin() as session:
            tasks = TaskRepository(session)
            lapsed = await tasks.claim_lapsed(now=now, limit=self.batch_size)
            if not lapsed:
                return BatchResult()
            result = await self.queue.enqueue(lapsed, refuse_kept=False)
            await tasks.extend_claims(
                [slot.task_id for slot in lapsed], until=now + self.claim_lease
            )
        if result.enqueued:
            self.queue.metrics.slots_recovered.inc(result.enqueued)
            log.warning("scheduler.lost_slots_requeued", slots=result.enqueued)
        return BatchResult(len(lapsed), result.enqueued, result.refused)

    async def dispatch_batch(self, *, now: datetime) -> BatchResult:
        """Claim up to one batch of slots due at `now`, enqueue a job for each, advance, commit.

        Any failure rolls the claim back, so the tasks stay due and the next attempt enqueues
        them again; arq refuses the jobs that did get queued (same id), so no slot is lost or
        run twice. Other schedulers skip the rows this transaction holds.
        """
        async with self.sessions.begin() as session:
            tasks = TaskRepository(session)
            slots = await tasks.claim_due(now=now, limit=self.batch_size)
            if not slots:
                return BatchResult()
            # Enqueue before commit: a crash in between re-runs the batch, never loses it.
            result = await self.queue.enqueue(slots)
            # The claim's `now`, not a later one: a slot falling due while we enqueued is
            # the next batch's work, not a missed slot to skip.
            await tasks.advance([slot.task_id for slot in slots], now=now, lease=self.claim_lease)
        return BatchResult(len(slots), result.enqueued, result.refused)
