"""The collector's arq worker: its settings class, the job entry point and per-process resources.

arq reads only `WorkerSettings.__dict__`; the values that come from configuration are passed to
`run_worker` as keyword overrides by `worker_options`, because Settings are built at process
start, not at import.
"""

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import structlog
from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.typing import StartupShutdown, WorkerCoroutine
from arq.worker import Function, Retry, func
from prometheus_client import REGISTRY, CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.collector.balance import poll_balances
from services.collector.breaker import CircuitBreaker
from services.collector.collect import Collector, Deferred
from services.collector.connections import TikHubConnections
from services.collector.job_lease import job_lease
from services.collector.key_pool import KeyPool, PoolKey
from services.collector.metrics import CollectorMetrics
from services.collector.rate_limiter import RateLimiter
from services.collector.tikhub import TikHubClient
from services.collector.usage import UsageLedger
from services.collector.webhooks import Busy, WebhookSender, webhook_client
from services.collector.writer import SlotWriter
from shared.backoff import Backoff
from shared.db import create_engine, create_session_factory, wait_for_schema
from shared.jobs import COLLECT_FUNCTION, DELIVER_FUNCTION, DELIVERY_LEASE
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.tikhub_usage import key_fingerprint

log = structlog.get_logger()

# arq counts every deferral as a try. A job ends itself (fallback row or recorded failure) when
# its slot's deadline passes, long before this many tries; it is only a backstop so that arq's
# own "max tries exceeded", which would drop the slot silently, never comes first.
MAX_TRIES = 10_000
# Time kept back from the job timeout to write the outcome after the last TikHub attempt.
FINISH_MARGIN_SECONDS = 15.0
# Waits between attempts to reach Redis while it is down: short enough that collecting resumes
# within seconds of its return.
REDIS_BACKOFF = Backoff(base=0.5, cap=5.0)
# What the usage upkeep waits out instead of dying: Redis or MySQL unreachable.
UPKEEP_FAILURES = (RedisError, SQLAlchemyError, DBAPIError, OSError)
# A delivery attempt ends well within its lease, so that the next attempt never overlaps it.
DELIVER_JOB_TIMEOUT_SECONDS = DELIVERY_LEASE.total_seconds() * 3 / 4
# A batch of deliveries that found its process full is tried again this much later.
BUSY_DEFER_SECONDS = 1.0


def worker_name() -> str:
    """This process's name in its health-check key: the host (a pod's name in Kubernetes)."""
    return socket.gethostname()


async def collect(ctx: dict[str, Any], task_id: str, scheduled_for: datetime) -> str:
    """The `collect` job: one slot of one task (see Collector.collect)."""
    collector: Collector = ctx["collector"]
    settings: Settings = ctx["settings"]
    try:
        async with job_lease(
            ctx["redis"], ctx["job_id"], seconds=settings.collector_job_lease_seconds
        ):
            return await collector.collect(
                task_id, scheduled_for, job_try=ctx["job_try"], enqueued_at=ctx["enqueue_time"]
            )
    except Deferred as deferred:
        raise Retry(defer=deferred.seconds) from None


def build_pool(
    settings: Settings,
    *,
    redis: Redis,
    metrics: CollectorMetrics,
    clock: Callable[[], float] = time.time,
    transport: httpx.AsyncBaseTransport | None = None,
) -> KeyPool:
    """The TikHub key pool: per key its connections, its rate limiter and its breaker;
    `transport` replaces the network (tests answer from an in-process sandbox)."""
    keys = RedisKeys(settings.redis_prefix)
    members = []
    # Without any key the collector still runs (the sandbox accepts any); its calls get a 401.
    for api_key in settings.tikhub_key_pool() or [""]:
        fingerprint = key_fingerprint(api_key)
        members.append(
            PoolKey(
                fingerprint=fingerprint,
                http=TikHubConnections(
                    settings.tikhub_base_url,
                    api_key,
                    timeout_seconds=settings.tikhub_timeout_seconds,
                    max_connections=settings.collector_max_jobs,
                    transport=transport,
                ),
                limiter=RateLimiter(
                    redis,
                    keys.tikhub_rate_limiter(fingerprint),
                    rate_per_second=settings.tikhub_rate_limit_per_second,
                    max_wait_seconds=settings.collector_rate_limit_max_wait_seconds,
                    metrics=metrics,
                ),
                breaker=CircuitBreaker(
                    redis,
                    keys.tikhub_breaker(fingerprint),
                    api_key=api_key,
                    failure_threshold=settings.collector_breaker_failure_threshold,
                    cooloff_seconds=settings.collector_breaker_cooloff_seconds,
                    # A probe that has not answered within one call's timeout is presumed lost.
                    probe_lease_seconds=settings.tikhub_timeout_seconds,
                    metrics=metrics,
                    clock=clock,
                ),
            )
        )
    return KeyPool(
        members, redis=redis, keys=keys, rate_per_second=settings.tikhub_rate_limit_per_second
    )


async def deliver_webhooks(ctx: dict[str, Any], attempts: list[tuple[int, int]]) -> str:
    """The `deliver_webhooks` job: one attempt at each of a batch of deliveries (see
    WebhookSender.deliver); says how many ended in each status."""
    sender: WebhookSender = ctx["webhook_sender"]
    try:
        statuses = await sender.deliver(attempts)
    except Busy:
        # Nothing was logged or sent: the same job, later.
        raise Retry(defer=BUSY_DEFER_SECONDS) from None
    return ", ".join(f"{count} {status}" for status, count in sorted(Counter(statuses).items()))


def build_collector(
    settings: Settings,
    *,
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
    metrics: CollectorMetrics,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Collector:
    """A Collector wired from settings; `sleep`, `clock` and `transport` are the seams tests
    turn. Its pool's connections are closed by `collector.pool.aclose()`."""
    keys = RedisKeys(settings.redis_prefix)
    ledger = UsageLedger(
        redis,
        keys,
        sessions,
        prices=settings.tikhub_prices_usd,
        daily_budget_usd=settings.tikhub_daily_budget_usd,
    )
    tikhub = TikHubClient(
        api_keys=settings.tikhub_key_pool(),
        max_attempts=settings.tikhub_max_attempts,
        ledger=ledger,
        metrics=metrics,
        sleep=sleep,
    )
    job_timeout = settings.collector_job_timeout_seconds
    return Collector(
        sessions=sessions,
        writer=SlotWriter(sessions),
        redis=redis,
        keys=keys,
        tikhub=tikhub,
        pool=build_pool(settings, redis=redis, metrics=metrics, clock=clock, transport=transport),
        ledger=ledger,
        metrics=metrics,
        fetch_budget_seconds=max(job_timeout - FINISH_MARGIN_SECONDS, job_timeout / 2),
        max_tries=MAX_TRIES,
    )


async def usage_upkeep(collector: Collector, settings: Settings) -> None:
    """Every flush interval: usage counts to MySQL, the pool to Redis, the balance when due."""
    while True:
        await asyncio.sleep(settings.collector_usage_flush_seconds)
        try:
            await collector.ledger.flush()
            await collector.pool.publish()
            await poll_balances(
                collector.pool,
                collector.tikhub,
                collector.redis,
                collector.keys,
                every_seconds=settings.collector_balance_poll_seconds,
            )
        except UPKEEP_FAILURES as error:
            # Redis or MySQL away: the counts wait in Redis for the next round.
            log.warning("collector.usage_upkeep_failed", error=repr(error))


async def startup(ctx: dict[str, Any]) -> None:
    """Open the process's engine and TikHub connections; arq's own pool serves Redis."""
    settings: Settings = ctx["settings"]
    # READ COMMITTED: under REPEATABLE READ, the slot checks before each history insert would
    # also lock the gaps around slots that have no row yet, and two processes storing points of
    # neighbouring tasks would deadlock.
    engine = create_engine(settings, isolation_level="READ COMMITTED")
    # Jobs wait in Redis meanwhile: with an older schema, post codes would still compare
    # case-insensitively.
    await wait_for_schema(engine)
    sessions = create_session_factory(engine)
    ctx["engine"], ctx["webhook_http"] = engine, webhook_client()
    collector = build_collector(
        settings,
        redis=ctx["redis"],
        sessions=sessions,
        metrics=ctx["metrics"],
    )
    ctx["webhook_sender"] = WebhookSender(
        sessions,
        ctx["webhook_http"],
        allow_private_targets=settings.webhook_allow_private_targets,
    )
    ctx["collector"] = collector
    ctx["upkeep"] = asyncio.create_task(usage_upkeep(collector, settings))
    log.info(
        "collector.started",
        queue=RedisKeys(settings.redis_prefix).collector_queue,
        tikhub=settings.tikhub_base_url,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close what startup opened (arq closes its Redis pool itself)."""
    if "upkeep" in ctx:
        ctx["upkeep"].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctx["upkeep"]
    if "collector" in ctx:
        collector: Collector = ctx["collector"]
        with contextlib.suppress(*UPKEEP_FAILURES):
            # The counts of the last seconds, so a clean stop loses none.
            await collector.ledger.flush()
        await collector.pool.aclose()
    if "webhook_http" in ctx:
        await ctx["webhook_http"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()


class WorkerSettings:
    """What arq runs: the collect and deliver_webhooks jobs, the process's start-up and
    shut-down."""

    # Annotated exactly as arq's WorkerSettingsBase protocol declares them, so that type
    # checkers accept the class (and see plain callables, not methods taking `self`).
    functions: Sequence[WorkerCoroutine | Function] = (
        func(collect, name=COLLECT_FUNCTION, max_tries=MAX_TRIES),
        # No result kept: the attempt's log in MySQL says whether it ran, and a kept result
        # would refuse the same attempt re-queued after its job vanished.
        func(
            deliver_webhooks,
            name=DELIVER_FUNCTION,
            timeout=DELIVER_JOB_TIMEOUT_SECONDS,
            keep_result=0,
        ),
    )
    cron_jobs: Sequence[CronJob] | None = None
    on_startup: StartupShutdown | None = startup
    on_shutdown: StartupShutdown | None = shutdown


def worker_options(settings: Settings, registry: CollectorRegistry = REGISTRY) -> dict[str, Any]:
    """The configured part of the worker, as keyword overrides for arq's run_worker."""
    keys = RedisKeys(settings.redis_prefix)
    return {
        "queue_name": keys.collector_queue,
        # No retries inside arq's connect: CollectorWorker waits for Redis itself, with back-off
        # and one log line per outage.
        "redis_settings": replace(RedisSettings.from_dsn(settings.redis_url), conn_retries=0),
        "max_jobs": settings.collector_max_jobs,
        "poll_delay": settings.collector_poll_delay_seconds,
        "job_timeout": settings.collector_job_timeout_seconds,
        "keep_result": settings.collector_keep_result_seconds,
        "health_check_interval": settings.collector_health_check_interval_seconds,
        "health_check_key": keys.collector_health_check(worker_name()),
        # On SIGTERM, take no new job and let the running ones finish (they end within the job
        # timeout) instead of cancelling them into a second TikHub call on another process.
        "job_completion_wait": settings.collector_job_timeout_seconds,
        "ctx": {"settings": settings, "metrics": CollectorMetrics(registry)},
    }
