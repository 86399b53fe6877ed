"""The collector's arq queue as the scheduler fills it: one job per due slot, a batch at a time."""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from redis.asyncio import Redis

from services.scheduler.metrics import SchedulerMetrics
from shared.jobs import (
    COLLECT_FUNCTION,
    DELIVER_FUNCTION,
    DELIVERIES_PER_JOB,
    collect_job_id,
    deliver_job_id,
)
from shared.repositories.tasks import DueSlot
from shared.repositories.webhooks import DueDelivery

# arq's ArqRedis.enqueue_job costs three round trips per job (WATCH, EXISTS, MULTI/EXEC): the
# scheduler managed 3,700-5,600 slots/s with it on two cores, nearly all client CPU. This script
# writes exactly what enqueue_job writes (the pickled job under arq:job:{id}, expiring a day
# after it was queued; the id in the queue's sorted set, scored by the enqueue time in ms) and,
# like enqueue_job, refuses an id that still has a job or (unless told otherwise) a kept result,
# atomically, for a whole chunk of jobs per call.
#   KEYS: the queue, then each job's job key and result key.
#   ARGV: score (ms), job expiry (ms), whether a kept result refuses (1 or 0), then each job's
#   id and pickled job.
#   Returns 1 (queued) or 0 (refused) per job.
ENQUEUE_SCRIPT = """
local refuse_kept = ARGV[3] == '1'
local queued = {}
for i = 1, (#KEYS - 1) / 2 do
  local taken = redis.call('EXISTS', KEYS[2 * i]) == 1
    or (refuse_kept and redis.call('EXISTS', KEYS[2 * i + 1]) == 1)
  if taken then
    queued[i] = 0
  else
    redis.call('PSETEX', KEYS[2 * i], ARGV[2], ARGV[2 * i + 3])
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2 * i + 2])
    queued[i] = 1
  end
end
return queued
"""
# Jobs per script call: Redis runs nothing else while a script runs, so keep each call short.
SCRIPT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job as the script queues it: its id, function and arguments."""

    job_id: str
    function: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    """How many slots got a new job, and how many arq already had (queued, running or kept)."""

    enqueued: int
    refused: int


class CollectorQueue:
    """Enqueues `collect(task_id, scheduled_for)` jobs with one deterministic id per slot, and
    webhook delivery attempts in batches with one per batch."""

    def __init__(self, redis: Redis, queue_name: str, metrics: SchedulerMetrics) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.metrics = metrics
        self._enqueue_script = redis.register_script(ENQUEUE_SCRIPT)

    async def enqueue(self, slots: Sequence[DueSlot], *, refuse_kept: bool = True) -> EnqueueResult:
        """Enqueue one job per slot in one round trip; raise if Redis fails. Without
        `refuse_kept`, a slot whose job is gone is queued even if arq keeps a result for it:
        the claim in MySQL says the slot is not done, whatever Redis remembers (arq keeps a
        "job expired" failure for a job whose data a restarted Redis lost)."""
        queued = await self._enqueue(
            [
                QueuedJob(
                    collect_job_id(slot.task_id, slot.scheduled_for),
                    COLLECT_FUNCTION,
                    (slot.task_id, slot.scheduled_for),
                )
                for slot in slots
            ],
            refuse_kept=refuse_kept,
        )
        enqueued_at = time.time()
        for slot, was_queued in zip(slots, queued, strict=True):
            if was_queued:
                self.metrics.lateness.observe(enqueued_at - slot.scheduled_for.timestamp())
        enqueued = sum(queued)
        self.metrics.slots_dispatched.inc(enqueued)
        self.metrics.duplicates_refused.inc(len(slots) - enqueued)
        return EnqueueResult(enqueued=enqueued, refused=len(slots) - enqueued)

    async def enqueue_deliveries(self, deliveries: Sequence[DueDelivery]) -> EnqueueResult:
        """Enqueue the delivery attempts, DELIVERIES_PER_JOB to a job, in one round trip; how
        many attempts were queued and refused. Raise if Redis fails."""
        batches = [
            deliveries[start : start + DELIVERIES_PER_JOB]
            for start in range(0, len(deliveries), DELIVERIES_PER_JOB)
        ]
        jobs = []
        for batch in batches:
            attempts = [(due.delivery_id, due.attempt) for due in batch]
            jobs.append(
                QueuedJob(
                    deliver_job_id(batch[0].event_id, attempts), DELIVER_FUNCTION, (attempts,)
                )
            )
        queued = await self._enqueue(jobs, refuse_kept=True)
        enqueued = sum(
            len(batch) for batch, was_queued in zip(batches, queued, strict=True) if was_queued
        )
        return EnqueueResult(enqueued=enqueued, refused=len(deliveries) - enqueued)

    async def _enqueue(self, jobs: Sequence[QueuedJob], *, refuse_kept: bool) -> list[bool]:
        """Whether each job was queued (or refused, as arq already had its id)."""
        enqueued_at_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(jobs), SCRIPT_CHUNK):
                chunk = jobs[start : start + SCRIPT_CHUNK]
                keys, args = self._script_input(chunk, enqueued_at_ms, refuse_kept)
                await self._enqueue_script(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return [flag == 1 for reply in replies for flag in reply]

    def _script_input(
        self, jobs: Sequence[QueuedJob], enqueued_at_ms: int, refuse_kept: bool
    ) -> tuple[list[str], list[str | bytes | int]]:
        keys = [self.queue_name]
        args: list[str | bytes | int] = [enqueued_at_ms, expires_extra_ms, int(refuse_kept)]
        for job in jobs:
            keys += [job_key_prefix + job.job_id, result_key_prefix + job.job_id]
            args += [job.job_id, serialize_job(job.function, job.args, {}, None, enqueued_at_ms)]
        return keys, args
