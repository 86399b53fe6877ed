"""arq's Worker, made to wait out Redis outages instead of exiting.

arq 0.28 lets a Redis error escape its poll loop, which ends the process, and gives up
connecting at start after a few seconds. The overrides below are arq's own methods wrapped, not
re-implemented; arq is pinned below 0.29 and tests/collector/test_redis_outage.py checks them
against the real library.
"""

import asyncio
import time
from typing import Any

import structlog
from arq.worker import Worker, get_kwargs
from redis.exceptions import RedisError

from shared.backoff import Backoff

log = structlog.get_logger()

# What an unreachable, restarting, stalled or write-refusing Redis raises. Not only connection
# errors: a connection that drops while arq watches a key (starting a job) surfaces as a
# WatchError, which would end the process. The scheduler's loop waits out the same.
REDIS_OUTAGE = (RedisError, OSError)


class RedisOutage:
    """One outage at a time: logged when it starts and when it ends, not at every retry."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.failures = 0
        self.since = 0.0

    async def wait_after(self, error: BaseException) -> None:
        """Record a failed Redis round and wait before the next one."""
        if not self.failures:
            self.since = time.monotonic()
            log.warning("collector.redis_unavailable", error=repr(error))
        self.failures += 1
        await asyncio.sleep(self.backoff.delay(self.failures))

    def recovered(self) -> None:
        """Note a successful Redis round; ends the outage if there was one."""
        if self.failures:
            log.info(
                "collector.redis_recovered",
                failures=self.failures,
                down_seconds=round(time.monotonic() - self.since, 1),
            )
            self.failures = 0


class CollectorWorker(Worker):
    """A Worker whose poll loop and start survive Redis outages; running jobs carry on."""

    def __init__(self, *, backoff: Backoff, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outage = RedisOutage(backoff)

    async def main(self) -> None:
        # Before on_startup has run, nothing but connecting has happened, so starting over is
        # safe; later failures are the poll loop's, handled below.
        while True:
            try:
                return await super().main()
            except REDIS_OUTAGE as error:
                if "collector" in self.ctx:
                    raise
                await self.outage.wait_after(error)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_OUTAGE as error:
            await self.outage.wait_after(error)
        else:
            self.outage.recovered()

    async def close(self) -> None:
        # Stopping while Redis is down: arq's clean-up starts with deleting the health record,
        # and a failure there would skip closing the database and TikHub connections.
        try:
            await super().close()
        except REDIS_OUTAGE as error:
            log.warning("collector.stopped_without_redis", error=repr(error))
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except REDIS_OUTAGE:
            # arq takes a place for the job it is starting before claiming the job in Redis,
            # and a Redis error on the claim escapes without giving the place back: an outage
            # would shrink the worker for good.
            self.job_counter -= 1
            self.sem.release()
            raise


def create_collector_worker(
    settings_cls: type, *, backoff: Backoff, **kwargs: Any
) -> CollectorWorker:
    """arq's create_worker, building a CollectorWorker."""
    return CollectorWorker(backoff=backoff, **{**get_kwargs(settings_cls), **kwargs})
