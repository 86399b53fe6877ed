"""The scheduler's main loop: a tick every few seconds, draining every due slot, until stopped."""

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Protocol

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from services.scheduler.dispatcher import BatchResult
from services.scheduler.health import Heartbeat
from services.scheduler.metrics import SchedulerMetrics
from shared.backoff import Backoff
from shared.models import utcnow

log = structlog.get_logger()

# What MySQL or Redis being unreachable, restarting or timing out raises.
OUTAGE_ERRORS = (DBAPIError, RedisError, OSError)


class BatchDispatcher(Protocol):
    """Does one batch of work (`Dispatcher` or `DeliveryDispatcher` in production)."""

    batch_size: int

    async def dispatch_batch(self, *, now: datetime) -> BatchResult: ...


class SlotDispatcher(BatchDispatcher, Protocol):
    """Dispatches the due slots, and first puts back those whose jobs Redis lost."""

    async def recover(self, *, now: datetime) -> BatchResult: ...


class SchedulerLoop:
    """Runs ticks until the stop event is set; a failed tick is logged and retried, never fatal."""

    def __init__(
        self,
        dispatcher: SlotDispatcher,
        heartbeat: Heartbeat,
        metrics: SchedulerMetrics,
        *,
        tick_seconds: float,
        backoff: Backoff,
        deliveries: BatchDispatcher | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        # Webhook deliveries, claimed after the slots of each tick.
        self.deliveries = deliveries
        self.heartbeat = heartbeat
        self.metrics = metrics
        self.tick_seconds = tick_seconds
        self.backoff = backoff

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; the batch in progress always finishes and commits."""
        failures = 0
        while not stop.is_set():
            await self._beat()
            started = time.perf_counter()
            try:
                await self.tick(stop)
            except Exception as error:
                failures += 1
                self.metrics.tick_failures.inc()
                wait = self.backoff.delay(failures)
                # An outage is expected and its message says it all; anything else is a bug
                # whose traceback is needed, though it is retried all the same.
                report = log.warning if isinstance(error, OUTAGE_ERRORS) else log.exception
                report(
                    "scheduler.tick_failed",
                    error=repr(error),
                    failures=failures,
                    retry_in_seconds=round(wait, 2),
                )
            else:
                elapsed = time.perf_counter() - started
                self.metrics.tick_duration.observe(elapsed)
                if failures:
                    log.info("scheduler.recovered", failures=failures)
                    failures = 0
                # Keep a steady cadence: a slow tick shortens the wait rather than adding to it.
                wait = max(0.0, self.tick_seconds - elapsed)
            await _sleep_unless_stopped(stop, wait)

    async def tick(self, stop: asyncio.Event) -> BatchResult:
        """Put back what Redis lost, dispatch every due slot, then every due delivery; return
        what the slots' part did."""
        await self.dispatcher.recover(now=utcnow())
        total = await self._drain(self.dispatcher, stop, "scheduler.dispatched")
        if self.deliveries is not None and not stop.is_set():
            await self._drain(self.deliveries, stop, "scheduler.deliveries_dispatched")
        return total

    async def _drain(
        self, dispatcher: BatchDispatcher, stop: asyncio.Event, event: str
    ) -> BatchResult:
        """Dispatch batches until one comes back short (nothing more is due) or a stop is
        asked; log what they did as `event`."""
        total = BatchResult()
        while True:
            batch = await dispatcher.dispatch_batch(now=utcnow())
            total += batch
            if batch.claimed < dispatcher.batch_size or stop.is_set():
                if total.claimed:
                    log.info(
                        event,
                        claimed=total.claimed,
                        enqueued=total.enqueued,
                        duplicates_refused=total.refused,
                    )
                return total
            # Draining a large backlog can outlast the heartbeat's TTL; the probe must not
            # mistake it for a hung loop.
            await self._beat()

    async def _beat(self) -> None:
        # The heartbeat says the loop is alive, so it also beats while the database is down:
        # restarting the scheduler would not bring the database back.
        try:
            await self.heartbeat.beat()
        except Exception as error:
            log.warning("scheduler.heartbeat_failed", error=repr(error))


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
