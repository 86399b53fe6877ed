"""The outbox end to end: the scheduler claims due deliveries, collectors' arq jobs send them,
and neither a lost Redis nor a collector killed mid-delivery loses or repeats an attempt."""

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.worker import Worker
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy import select

from services.collector.worker import WorkerSettings, worker_options
from services.scheduler.collector_queue import CollectorQueue
from services.scheduler.deliveries import DeliveryDispatcher
from services.scheduler.metrics import SchedulerMetrics
from shared.events import EventType, record_event
from shared.jobs import DELIVERY_LEASE
from shared.models import WebhookAttempt, WebhookDelivery, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.webhooks import WebhookRepository
from shared.settings import Settings
from tests.api.support import Sessions
from tests.collector.processes import collector_env, spawn_collector, wait_for
from tests.webhooks.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# arq 0.28 closes its pool with redis-py's deprecated close().
ARQ_CLOSE = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture
async def deliveries(
    sessions: Sessions, redis: Redis, keys: RedisKeys
) -> AsyncIterator[DeliveryDispatcher]:
    """The scheduler's part; the arq jobs left queued are deleted afterwards."""
    queue = CollectorQueue(redis, keys.collector_queue, SchedulerMetrics(CollectorRegistry()))
    yield DeliveryDispatcher(sessions, queue, batch_size=100)
    # arq's keys do not carry the deployment prefix, so the `redis` fixture cannot find them.
    job_ids = [job_id.decode() for job_id in await redis.zrange(keys.collector_queue, 0, -1)]
    prefixes = (job_key_prefix, result_key_prefix, in_progress_key_prefix)
    if job_ids:
        await redis.delete(*(prefix + job_id for job_id in job_ids for prefix in prefixes))


@pytest.fixture
async def webhook_id(sessions: Sessions, receiver: Receiver) -> str:
    async with sessions.begin() as session:
        webhook = await WebhookRepository(session).create(
            url=receiver.url, description=None, event_types=None, secret=SECRET, now=utcnow()
        )
    return webhook.id


async def run_worker(hook_settings: Settings) -> int:
    """A burst collector worker: runs what is queued, then stops; how many jobs it ran."""
    options = worker_options(hook_settings, CollectorRegistry())
    worker = Worker(
        **{**options, "burst": True, "handle_signals": False, "poll_delay": 0.01},
        functions=WorkerSettings.functions,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
    )
    try:
        return await worker.run_check()
    finally:
        await worker.close()


async def attempts_of(sessions: Sessions) -> list[tuple[int, str]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(WebhookAttempt).order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
        )
        return [(a.attempt, a.outcome.value) for a in rows]


@ARQ_CLOSE
async def test_the_scheduler_claims_and_a_collector_job_delivers_each_event_once(
    hook_settings: Settings,
    sessions: Sessions,
    redis: Redis,
    deliveries: DeliveryDispatcher,
    webhook_id: str,
    receiver: Receiver,
) -> None:
    async with sessions.begin() as session:
        events = [await record_event(session, EventType.WEBHOOK_TEST, {"n": n}) for n in range(3)]
    now = utcnow()
    first = await deliveries.dispatch_batch(now=now)
    assert (first.claimed, first.enqueued) == (3, 3)
    # Claimed: a second scheduler (or the next tick) does not queue them again.
    assert (await deliveries.dispatch_batch(now=now)).claimed == 0
    await run_worker(hook_settings)

    got = receiver.requests()
    assert sorted(r.headers["webhook-id"] for r in got) == sorted(e for e in events if e)
    assert {r.verified(SECRET)["type"] for r in got} == {"webhook.test"}
    assert await attempts_of(sessions) == [(1, "succeeded")] * 3


@ARQ_CLOSE
async def test_a_burst_goes_out_in_jobs_of_ten_attempts_each_sent_once(
    hook_settings: Settings,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    deliveries: DeliveryDispatcher,
    webhook_id: str,
    receiver: Receiver,
) -> None:
    async with sessions.begin() as session:
        events = [await record_event(session, EventType.WEBHOOK_TEST, {"n": n}) for n in range(25)]
    assert (await deliveries.dispatch_batch(now=utcnow())).enqueued == 25
    assert await redis.zcard(keys.collector_queue) == 3  # 10, 10 and 5 attempts
    assert await run_worker(hook_settings) == 3

    got = sorted(r.headers["webhook-id"] for r in receiver.requests())
    assert got == sorted(e for e in events if e)
    assert await attempts_of(sessions) == [(1, "succeeded")] * 25


@ARQ_CLOSE
async def test_jobs_lost_with_redis_are_queued_again_once_their_lease_ends(
    hook_settings: Settings,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    deliveries: DeliveryDispatcher,
    webhook_id: str,
    receiver: Receiver,
) -> None:
    async with sessions.begin() as session:
        event = await record_event(session, EventType.WEBHOOK_TEST, {})
    now = utcnow()
    assert (await deliveries.dispatch_batch(now=now)).enqueued == 1
    # Redis loses everything: the queue and the job.
    job_ids = [j.decode() for j in await redis.zrange(keys.collector_queue, 0, -1)]
    await redis.delete(keys.collector_queue, *(job_key_prefix + j for j in job_ids))
    assert await run_worker(hook_settings) == 0
    assert receiver.requests() == []

    # Once the lease is over, the same attempt is claimed and queued again.
    again = await deliveries.dispatch_batch(now=now + DELIVERY_LEASE)
    assert (again.claimed, again.enqueued) == (1, 1)
    await run_worker(hook_settings)
    assert [r.headers["webhook-id"] for r in receiver.requests()] == [event]
    assert await attempts_of(sessions) == [(1, "succeeded")]


async def test_a_collector_killed_mid_delivery_loses_nothing(
    hook_settings: Settings,
    sessions: Sessions,
    redis: Redis,
    deliveries: DeliveryDispatcher,
    webhook_id: str,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    env = {
        **collector_env(hook_settings, 9, rate_per_second=10),
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    }
    async with sessions.begin() as session:
        event = await record_event(session, EventType.WEBHOOK_TEST, {})
    receiver.answering.clear()  # the receiver takes the request and holds its answer
    doomed = await spawn_collector(env, tmp_path / "doomed.log")
    try:
        assert (await deliveries.dispatch_batch(now=utcnow())).enqueued == 1

        async def arrived() -> bool:
            return len(receiver.requests()) == 1

        await wait_for(arrived, "the delivery to reach the receiver")
    finally:
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
    receiver.answering.set()

    survivor = await spawn_collector(env, tmp_path / "survivor.log")
    try:
        # The next scheduler tick after the lease claims attempt 2.
        assert (await deliveries.dispatch_batch(now=utcnow() + DELIVERY_LEASE)).enqueued == 1

        async def delivered() -> bool:
            async with sessions() as session:
                status = await session.scalar(select(WebhookDelivery.status))
            return status is not None and status.value == "succeeded"

        await wait_for(delivered, "the second attempt to succeed")
    finally:
        survivor.send_signal(signal.SIGTERM)
        await asyncio.wait_for(survivor.wait(), 60)

    assert [r.headers["webhook-id"] for r in receiver.requests()] == [event, event]
    assert await attempts_of(sessions) == [(1, "interrupted"), (2, "succeeded")]
