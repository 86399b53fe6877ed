"""The collection job: one slot of one task, from pause check to history row."""

import asyncio
import enum
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.collector.breaker import Admission
from services.collector.key_pool import KeyPool, NoKeyAvailable, PoolKey
from services.collector.metrics import CollectorMetrics
from services.collector.payloads import PostSnapshot, ProfileSnapshot, merge_posts, merge_profiles
from services.collector.post_sample import failed_record, feed_record
from services.collector.rate_limiter import RateLimited, Turn
from services.collector.tikhub import Caller, Fetched, TikHubClient
from services.collector.tikhub_errors import ErrorKind, TikHubError
from services.collector.usage import BudgetExhausted, UsageLedger
from services.collector.writer import SlotRecord, SlotWriter
from shared.models import POST_DETAILS, Source, Task, TaskStatus, TaskType, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.post_samples import PostSampleRepository, SampleRecord
from shared.repositories.tasks import TaskRepository
from shared.tikhub_usage import POST_SAMPLE_EVERY

log = structlog.get_logger()

# A slot is still collected, however late, until its task's next slot is due, and at the latest
# this long after its job was first queued, well inside arq's one-day job expiry.
MAX_DEFERRAL = timedelta(hours=1)
# Connection-level database failures, worth waiting out (unlike a bug in a statement).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError)
DATABASE_RETRY_SECONDS = 5.0
# The fallback payload outlives a few failed slots, not more: older numbers are too stale.
FALLBACK_TTL_INTERVALS = 3


class Outcome(enum.StrEnum):
    """How a job ended; the `outcome` label of `collector_collections`."""

    LIVE = "live"
    FALLBACK = "fallback"
    SKIPPED = "skipped"
    FAILED = "failed"
    # Not collected because its task's next slot came first; no row, no failure.
    DROPPED = "dropped"


class Deferred(Exception):
    """The job should run again in `seconds` (rate budget spent, breaker open, MySQL down)."""

    def __init__(self, reason: str, seconds: float, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.seconds = seconds


Snapshot = ProfileSnapshot | PostSnapshot


@dataclass(frozen=True, slots=True)
class Collector:
    """Everything a collection needs; one per worker process, shared by its jobs."""

    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    keys: RedisKeys
    writer: SlotWriter
    tikhub: TikHubClient
    pool: KeyPool
    ledger: UsageLedger
    metrics: CollectorMetrics
    fetch_budget_seconds: float
    max_tries: int

    async def collect(
        self,
        task_id: str,
        scheduled_for: datetime,
        *,
        job_try: int,
        enqueued_at: datetime | None = None,
    ) -> Outcome:
        """Run one slot whose job was first queued at `enqueued_at` (default: the slot); raise
        Deferred when it should be tried again later."""
        with structlog.contextvars.bound_contextvars(
            task_id=task_id, scheduled_for=scheduled_for.isoformat(), job_try=job_try
        ):
            try:
                outcome = await self._collect(
                    task_id,
                    scheduled_for,
                    job_try=job_try,
                    queued_at=max(scheduled_for, enqueued_at or scheduled_for),
                )
            except DATABASE_UNAVAILABLE as error:
                # MySQL restarting or failing over: the slot is collected once it is back,
                # rather than failed and lost.
                if job_try >= self.max_tries or utcnow() > scheduled_for + MAX_DEFERRAL:
                    raise
                self.metrics.deferrals.labels("database").inc()
                log.warning("collector.database_unavailable", error=repr(error))
                raise Deferred("database", DATABASE_RETRY_SECONDS, repr(error)) from error
        self.metrics.collections.labels(outcome).inc()
        return outcome

    async def _collect(
        self, task_id: str, slot: datetime, *, job_try: int, queued_at: datetime
    ) -> Outcome:
        if await self.redis.exists(self.keys.pause(task_id)):
            log.info("collector.skipped", reason="paused")
            return Outcome.SKIPPED
        async with self.sessions() as session:
            found = await TaskRepository(session).get_with_slot_recorded(task_id, slot)
        if found is None or found[0].status is not TaskStatus.ACTIVE:
            log.info("collector.skipped", reason="not_active", status=found and found[0].status)
            return Outcome.SKIPPED
        task, recorded = found
        if recorded:
            # A run that wrote the row may have died before invalidating the cache.
            await self._invalidate(task, task.user_id)
            await self._release(task, slot)
            log.info("collector.skipped", reason="already_collected")
            return Outcome.SKIPPED
        # Late is not failed: a slot that waited (scheduler catch-up, backlog, rate budget,
        # breaker cool-off) is still worth a live fetch until the next one is due.
        deadline = min(
            max(task.next_run_at, slot + timedelta(seconds=task.interval_seconds)),
            queued_at + MAX_DEFERRAL,
        )
        if utcnow() >= deadline:
            return await self._drop(task, slot, reason="late", deadline=deadline)
        # Its place in TikHub's line is kept while it waits, so the oldest slot goes first.
        turn = Turn(f"{task.id}:{slot.timestamp():.0f}", deadline)
        try:
            return await self._fetch_and_store(task, slot, turn, returning=job_try > 1)
        except Deferred as deferred:
            resume_at = utcnow() + timedelta(seconds=deferred.seconds)
            if job_try < self.max_tries and resume_at < deadline:
                self.metrics.deferrals.labels(deferred.reason).inc()
                log.info(
                    "collector.deferred",
                    reason=deferred.reason,
                    defer_seconds=round(deferred.seconds, 3),
                    error=str(deferred),
                )
                raise
            return await self._drop(
                task, slot, reason=deferred.reason, deadline=deadline, error=str(deferred)
            )

    async def _drop(
        self, task: Task, slot: datetime, *, reason: str, deadline: datetime, error: str = ""
    ) -> Outcome:
        # Nothing was fetched, so there is nothing to store: a fallback row would pass old
        # numbers off as this slot's, and the task's health is about TikHub's answers.
        await self._release(task, slot)
        log.warning("collector.dropped", reason=reason, deadline=deadline.isoformat(), error=error)
        return Outcome.DROPPED

    async def _release(self, task: Task, slot: datetime) -> None:
        async with self.sessions.begin() as session:
            await TaskRepository(session).release_claim(task.id, slot)

    async def _fetch_and_store(
        self, task: Task, slot: datetime, turn: Turn, *, returning: bool
    ) -> Outcome:
        try:
            key, admission = await self.pool.choose(turn if returning else None)
        except NoKeyAvailable as refused:
            raise Deferred("breaker", refused.retry_in, f"TikHub circuit: {refused}") from None
        caller = Caller(key, task.id, turn)
        # Retries and fallback endpoints together, the posts sample included, must leave time
        # to record the outcome before arq's job timeout cancels the job.
        deadline = asyncio.get_running_loop().time() + self.fetch_budget_seconds
        try:
            fetched = await self._fetch(task, caller, deadline)
        except RateLimited as limited:
            raise Deferred("rate_limit", limited.retry_in, str(limited)) from None
        except BudgetExhausted as spent:
            return await self._skip_for_budget(spent)
        except TikHubError as error:
            return await self._handle_tikhub_error(task, slot, error, key, admission)
        await _unless_redis_fails("breaker_success", key.breaker.record_success(admission))
        sample = None
        if isinstance(fetched.snapshot, ProfileSnapshot):
            sample = await self._sample_posts(task, slot, fetched.snapshot, caller, deadline)
        return await self._store_live(task, slot, fetched, sample)

    async def _skip_for_budget(self, spent: BudgetExhausted) -> Outcome:
        # No row at all, not even a fallback: a repeated old value would pass for a collection.
        await self.ledger.count_budget_skip()
        if await self.ledger.budget_exceeded_first_time():
            # The `budget.exceeded` event goes out from here, once per UTC day.
            log.error("collector.budget_exceeded", error=str(spent))
        log.info("collector.skipped", reason="budget", error=str(spent))
        return Outcome.SKIPPED

    async def _fetch(self, task: Task, caller: Caller, deadline: float) -> Fetched[Any]:
        try:
            async with asyncio.timeout_at(deadline):
                if task.task_type is TaskType.INFLUENCER:
                    return await self.tikhub.fetch_profile(task.target, caller)
                return await self.tikhub.fetch_post(task.target, caller)
        except TimeoutError:
            raise TikHubError(
                ErrorKind.TRANSIENT,
                f"no answer within {self.fetch_budget_seconds:.0f} s",
                endpoint="(all endpoints)",
            ) from None

    async def _sample_posts(
        self,
        task: Task,
        slot: datetime,
        profile: ProfileSnapshot,
        caller: Caller,
        deadline: float,
    ) -> SampleRecord | None:
        """The creator's recent posts, when the task tracks them and no sample was taken within
        the hour; a failure is recorded as the slot's sample and never fails the profile."""
        if not task.track_posts or profile.is_private:
            # A private creator's posts cannot be read: no call is spent on them.
            return None
        async with self.sessions() as session:
            last = await PostSampleRepository(session).last_slot(task.id)
        if last is not None and slot - last < POST_SAMPLE_EVERY:
            return None
        followers = profile.follower_count
        try:
            async with asyncio.timeout_at(deadline):
                # Without a turn: a sample that would wait is skipped, not booked.
                feed = await self.tikhub.fetch_user_posts(
                    task.target, replace(caller, turn=None), user_id=profile.user_id or task.user_id
                )
        except (RateLimited, BudgetExhausted) as refused:
            # No call was made: the next slot tries again.
            log.info("collector.posts_sample_deferred", error=str(refused))
            return None
        except (TikHubError, TimeoutError) as error:
            message = str(error) or f"no answer within {self.fetch_budget_seconds:.0f} s"
            log.warning("collector.posts_sample_failed", error=message)
            self.metrics.post_samples.labels("failed").inc()
            return failed_record(task.id, slot, utcnow(), followers, error=message)
        self.metrics.post_samples.labels("sampled").inc()
        log.info(
            "collector.posts_sampled", posts=len(feed.posts), tikhub_request_id=feed.request_id
        )
        return feed_record(task.id, slot, utcnow(), followers, feed.posts)

    async def _handle_tikhub_error(
        self, task: Task, slot: datetime, error: TikHubError, key: PoolKey, admission: Admission
    ) -> Outcome:
        log_fields = {
            "kind": error.kind,
            "status": error.status,
            "request_id": error.request_id,
            "key_fingerprint": key.fingerprint,
        }
        if error.kind is ErrorKind.CREDENTIALS:
            await key.breaker.record_rejected_credentials(str(error))
            log.error("collector.tikhub_credentials_rejected", error=str(error), **log_fields)
            # The key has left the rotation: with others in the pool, try again on one of them.
            retry_in = 0.0 if len(self.pool.members) > 1 else key.breaker.cooloff_seconds
            raise Deferred("breaker", retry_in, str(error)) from None
        if error.kind is ErrorKind.TRANSIENT:
            if await key.breaker.record_failure(str(error)):
                log.error("collector.tikhub_breaker_opened", error=str(error), **log_fields)
        else:
            # TikHub itself answered: the trouble is the target or Instagram, not TikHub.
            await key.breaker.record_success(admission)
        log.warning("collector.tikhub_failed", error=str(error), **log_fields)
        # Repeating the last numbers of a target that is gone or private would suggest it
        # still exists; only a fetch that failed on the way gets a fallback row.
        return await self._store_failure(
            task, slot, error=str(error), unavailable=error.kind is ErrorKind.TARGET
        )

    async def _store_live(
        self, task: Task, slot: datetime, fetched: Fetched[Any], sample: SampleRecord | None
    ) -> Outcome:
        now = utcnow()
        fallback = self.redis.set(
            self.keys.fallback(task.id),
            orjson.dumps(fetched.payloads),
            ex=FALLBACK_TTL_INTERVALS * task.interval_seconds,
        )
        await _unless_redis_fails("fallback_payload", fallback)
        snapshot = fetched.snapshot
        user_id = snapshot.user_id if isinstance(snapshot, ProfileSnapshot) else None
        post_id = snapshot.post_id if isinstance(snapshot, PostSnapshot) else None
        await self.writer.write(
            SlotRecord(
                task_id=task.id,
                task_type=task.task_type,
                slot=slot,
                row=_history_row(task, slot, snapshot, Source.LIVE, now),
                now=now,
                user_id=user_id if user_id != task.user_id else None,
                post_id=post_id if post_id != task.post_id else None,
                details=_new_details(task, snapshot),
                sample=sample,
            )
        )
        await _unless_redis_fails(
            "cache_invalidation", self._invalidate(task, user_id or task.user_id)
        )
        log.info(
            "collector.collected", source=Source.LIVE, tikhub_request_ids=list(fetched.request_ids)
        )
        return Outcome.LIVE

    async def _store_failure(
        self, task: Task, slot: datetime, *, error: str, unavailable: bool = False
    ) -> Outcome:
        now = utcnow()
        snapshot = None if unavailable else await self._fallback_snapshot(task)
        row = None if snapshot is None else _history_row(task, slot, snapshot, Source.FALLBACK, now)
        await self.writer.write(
            SlotRecord(
                task_id=task.id,
                task_type=task.task_type,
                slot=slot,
                row=row,
                now=now,
                error=error,
                unavailable=unavailable,
            )
        )
        if snapshot is None:
            log.warning("collector.failed", error=error)
            return Outcome.FAILED
        user_id = snapshot.user_id if isinstance(snapshot, ProfileSnapshot) else None
        await self._invalidate(task, user_id or task.user_id)
        log.info("collector.collected", source=Source.FALLBACK, error=error)
        return Outcome.FALLBACK

    async def _fallback_snapshot(self, task: Task) -> Snapshot | None:
        raw = await self.redis.get(self.keys.fallback(task.id))
        if raw is None:
            return None
        payloads: Sequence[Any] = orjson.loads(raw)
        snapshot: Snapshot = (
            merge_profiles(payloads)
            if task.task_type is TaskType.INFLUENCER
            else merge_posts(payloads)
        )
        return snapshot if snapshot.has_counts else None

    async def _invalidate(self, task: Task, user_id: int | None) -> None:
        # The API caches an influencer's history under the Instagram id (unknown until the
        # first fetch learns it) and a post's under its shortcode.
        if task.task_type is TaskType.POST:
            await self.redis.delete(self.keys.post_history(task.target))
        elif user_id is not None:
            await self.redis.delete(self.keys.influencer_history(user_id))


async def _unless_redis_fails(step: str, operation: Awaitable[object]) -> None:
    """Run a Redis step that only serves later work (the breaker's count, the fallback
    payload, the API's cache); with Redis away, the slot's row is still stored. (A Redis that
    lost its data has lost the API's cached views too, so no stale view outlives it.)"""
    try:
        await operation
    except RedisError as error:
        log.warning("collector.redis_step_skipped", step=step, error=repr(error))


def _new_details(task: Task, snapshot: Snapshot) -> dict[str, Any]:
    """The post details this fetch read that its task does not have yet (PostSnapshot names
    them as the task does)."""
    if not isinstance(snapshot, PostSnapshot):
        return {}
    return {
        name: getattr(snapshot, name)
        for name in POST_DETAILS
        if getattr(task, name) is None and getattr(snapshot, name) is not None
    }


def _history_row(
    task: Task, slot: datetime, snapshot: Snapshot, source: Source, now: datetime
) -> dict[str, Any]:
    common = {"task_id": task.id, "scheduled_for": slot, "recorded_at": now, "source": source}
    if isinstance(snapshot, ProfileSnapshot):
        return {
            "user_id": snapshot.user_id or task.user_id,
            "username": task.target,
            "bio": snapshot.bio,
            "follower_count": snapshot.follower_count,
            "following_count": snapshot.following_count,
            "post_count": snapshot.post_count,
            **common,
        }
    return {
        "post_code": task.target,
        "post_id": snapshot.post_id or task.post_id,
        "like_count": snapshot.like_count,
        "comment_count": snapshot.comment_count,
        # Instagram counts plays only for videos; anything else reads as "no play count".
        "play_count": None if snapshot.is_video is False else snapshot.play_count,
        **common,
    }
