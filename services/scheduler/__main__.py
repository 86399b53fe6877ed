"""`python -m services.scheduler` runs the scheduler; `--check` probes its heartbeat."""

import argparse
import asyncio
import signal
import sys
from datetime import timedelta

import structlog
import uvloop

from services.scheduler.collector_queue import CollectorQueue
from services.scheduler.connections import open_database, open_redis
from services.scheduler.deliveries import DeliveryDispatcher
from services.scheduler.dispatcher import Dispatcher
from services.scheduler.health import check, heartbeat_for
from services.scheduler.loop import SchedulerLoop
from services.scheduler.metrics import SchedulerMetrics, serve_metrics
from services.scheduler.pause_flags import PauseFlagRestorer
from shared.backoff import Backoff
from shared.db import create_session_factory
from shared.logs import configure_logging, settings_secrets
from shared.redis_keys import RedisKeys
from shared.settings import Settings

log = structlog.get_logger()

# Retries never wait long enough for the heartbeat to go stale while the loop is healthy.
MAX_BACKOFF_SECONDS = 10.0


async def run(settings: Settings) -> None:
    """Run the scheduler until SIGTERM or SIGINT, then finish the batch in progress and return."""
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)

    metrics = SchedulerMetrics()
    if settings.scheduler_metrics_port:
        serve_metrics(settings.scheduler_metrics_host, settings.scheduler_metrics_port)
    engine = open_database(settings)
    redis = open_redis(settings)
    heartbeat = heartbeat_for(settings, redis)
    keys = RedisKeys(settings.redis_prefix)
    sessions = create_session_factory(engine)
    queue = CollectorQueue(redis, keys.collector_queue, metrics)
    dispatcher = Dispatcher(
        sessions,
        queue,
        PauseFlagRestorer(redis, keys, sessions),
        batch_size=settings.scheduler_batch_size,
        claim_lease=timedelta(seconds=settings.scheduler_claim_lease_seconds),
    )
    deliveries = DeliveryDispatcher(sessions, queue, batch_size=settings.scheduler_batch_size)
    loop = SchedulerLoop(
        dispatcher,
        heartbeat,
        metrics,
        tick_seconds=settings.scheduler_tick_seconds,
        backoff=Backoff(cap=min(MAX_BACKOFF_SECONDS, settings.scheduler_heartbeat_ttl_seconds / 2)),
        deliveries=deliveries,
    )
    log.info(
        "scheduler.started",
        replica=heartbeat.replica,
        tick_seconds=settings.scheduler_tick_seconds,
        batch_size=settings.scheduler_batch_size,
        metrics_port=settings.scheduler_metrics_port or None,
    )
    try:
        await loop.run(stop)
        log.info("scheduler.stopping")
        try:
            await heartbeat.clear()
        except Exception as error:
            log.warning("scheduler.heartbeat_failed", error=repr(error))
    finally:
        await redis.aclose(close_connection_pool=True)
        await engine.dispose()
    log.info("scheduler.stopped")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the scheduler or its probe; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m services.scheduler", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if this replica's heartbeat is fresh, 1 otherwise (a liveness probe)",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    if args.check:
        return 0 if uvloop.run(check(settings)) else 1
    configure_logging(settings, "scheduler", secrets=settings_secrets(settings))
    uvloop.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
