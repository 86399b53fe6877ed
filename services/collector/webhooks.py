"""The `deliver_webhooks` job: one attempt at each of a batch of deliveries, signed per
Standard Webhooks v1.

The batch's attempts are logged as `sending` and committed before the requests go out, and
their outcomes are written after, both guarded by each attempt's number: a second run of the
same job finds the attempts made and does nothing, and an attempt cut off by the process's end
is logged as interrupted when the next one (claimed after the lease) starts. So no attempt is
lost or made twice, though a receiver may get an event again whose answer was not recorded.
"""

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from shared.jobs import DELIVERIES_PER_JOB, DELIVERY_LEASE
from shared.models import DeliveryStatus, utcnow
from shared.repositories.webhooks import AttemptTarget, EndedAttempt, WebhookRepository
from shared.webhook_targets import RefusedTarget, check_target

log = structlog.get_logger()

# A receiver has this long, connecting included, to answer with a 2xx.
SEND_TIMEOUT_SECONDS = 15.0
# The waits after the first attempt, the second, …; after the last retry, the delivery fails.
RETRY_DELAYS = tuple(
    timedelta(**wait)
    for wait in (
        {"seconds": 5},
        {"minutes": 5},
        {"minutes": 30},
        {"hours": 2},
        {"hours": 5},
        {"hours": 10},
        {"hours": 10},
    )
)
# The receiver's answer that it will never take this webhook's events again.
GONE = 410
USER_AGENT = "instagram-monitor-webhooks/1"
# Requests a process has in flight at most, one connection each: as many as it had when each
# job sent one. A batch takes its places before its attempts are logged, so that no attempt
# spends its 15 s waiting for a connection: a process that is full defers the job, which has
# then done nothing.
MAX_IN_FLIGHT = 10 * DELIVERIES_PER_JOB
# The most of an answer's body read so that its connection can be used again.
MAX_ANSWER_READ_BYTES = 64 * 1024
# How long a batch waits for places before its job is deferred; with the sends (15 s) and the
# writes after, the job still ends well within its timeout (DELIVER_JOB_TIMEOUT_SECONDS).
ADMISSION_WAIT_SECONDS = 10.0


def webhook_client() -> httpx.AsyncClient:
    """The HTTP client deliveries go out on: no redirects (a 3xx is not a delivery), a
    connection for each request a process may have in flight."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(SEND_TIMEOUT_SECONDS),
        limits=httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
    )


def signed_headers(target: AttemptTarget, now: datetime) -> dict[str, str]:
    """Standard Webhooks' headers of one attempt: the event's id, the time, the signature."""
    return {
        "webhook-id": target.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(target.secret).sign(target.event_id, now, target.body),
    }


def next_step(
    attempt: int, response_status: int | None, now: datetime
) -> tuple[DeliveryStatus, datetime | None]:
    """The delivery's status after attempt number `attempt` ended, and when to try again."""
    if response_status is not None and 200 <= response_status < 300:
        return DeliveryStatus.SUCCEEDED, None
    if response_status == GONE or attempt > len(RETRY_DELAYS):
        return DeliveryStatus.FAILED, None
    return DeliveryStatus.RETRYING, now + RETRY_DELAYS[attempt - 1]


class Busy(Exception):
    """The process has no room for a batch's requests within ADMISSION_WAIT_SECONDS."""


class WebhookSender:
    """Makes delivery attempts a batch at a time: log them, send them side by side, log their
    outcomes."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
        *,
        allow_private_targets: bool,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.http = http
        self.allow_private_targets = allow_private_targets
        self.clock = clock
        self._in_flight = 0
        self._room = asyncio.Condition()

    async def deliver(self, attempts: Sequence[tuple[int, int]]) -> list[str]:
        """Make each `(delivery_id, attempt)` unless it was made already; return each
        delivery's status after it (`skipped` when there was nothing to do), in order.

        The attempts are logged in one transaction and their outcomes in another: two
        commits per batch, not per delivery, and no connection held while the requests are
        out. Raise Busy, having done nothing, when the process has no room for them.
        """
        await self._admit(len(attempts))
        targets: list[AttemptTarget] = []
        try:
            async with self.sessions.begin() as session:
                started = await WebhookRepository(session).start_attempts(
                    attempts, now=self.clock(), lease=DELIVERY_LEASE
                )
            targets = started
        finally:
            # The places of attempts not started are free at once; each started one frees its
            # own as its request ends.
            await self._release(len(attempts) - len(targets))
        ended = await asyncio.gather(*(self._attempt(target) for target in targets))
        now = self.clock()
        async with self.sessions.begin() as session:
            webhooks = WebhookRepository(session)
            await webhooks.finish_attempts(ended, now=now)
            # After the outcomes, so that an attempt to that webhook which succeeded in this
            # batch is recorded as such before the webhook's open deliveries fail.
            gone = {
                t.webhook_id
                for t, e in zip(targets, ended, strict=True)
                if e.response_status == GONE
            }
            for webhook_id in sorted(gone):
                await webhooks.disable(webhook_id, reason="the receiver answered 410 Gone", now=now)
        for target, end in zip(targets, ended, strict=True):
            # The URL is not logged: receivers often carry a token in it.
            log.info(
                "collector.webhook_attempt",
                delivery_id=target.delivery_id,
                webhook_id=target.webhook_id,
                event_id=target.event_id,
                attempt=target.attempt,
                status=end.status.value,
                response_status=end.response_status,
                duration_ms=end.duration_ms,
                error=end.error,
            )
        statuses = {end.delivery_id: end.status.value for end in ended}
        return [statuses.get(delivery_id, "skipped") for delivery_id, _ in attempts]

    async def _admit(self, count: int) -> None:
        """Take `count` of the process's places for requests, or raise Busy."""
        try:
            async with asyncio.timeout(ADMISSION_WAIT_SECONDS), self._room:
                await self._room.wait_for(lambda: self._in_flight + count <= MAX_IN_FLIGHT)
                self._in_flight += count
        except TimeoutError:
            raise Busy(
                f"no room for {count} more requests within {ADMISSION_WAIT_SECONDS:g} s"
            ) from None

    async def _release(self, count: int) -> None:
        if count:
            async with self._room:
                self._in_flight -= count
                self._room.notify_all()

    async def _attempt(self, target: AttemptTarget) -> EndedAttempt:
        """Send one attempt; how it ended."""
        try:
            started = time.perf_counter()
            response_status, error = await self._send(target)
            duration_ms = round((time.perf_counter() - started) * 1000)
        finally:
            await self._release(1)
        status, next_attempt_at = next_step(target.attempt, response_status, self.clock())
        return EndedAttempt(
            target.delivery_id,
            target.attempt,
            status,
            next_attempt_at,
            duration_ms,
            response_status,
            error,
        )

    async def _send(self, target: AttemptTarget) -> tuple[int | None, str | None]:
        """The receiver's status code (None without an answer), and what went wrong if it
        was not a 2xx."""
        try:
            await check_target(target.url, allow_private=self.allow_private_targets)
        except RefusedTarget as refused:
            return None, f"refused: {refused}"
        headers = signed_headers(target, self.clock())
        try:
            # httpx's timeout is per phase; the receiver's 15 s are for the whole request.
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                # Streamed: only the status counts, whatever the body's size. A short answer is
                # read to its end, which lets its connection serve the next request (a receiver
                # with a small listen backlog makes new connections wait a second each); a
                # longer one is left, and its connection closed.
                async with self.http.stream(
                    "POST", target.url, content=target.body, headers=headers
                ) as response:
                    code = response.status_code
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > MAX_ANSWER_READ_BYTES:
                            break
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {SEND_TIMEOUT_SECONDS:g} s"
        except httpx.HTTPError as failure:
            return None, f"request failed: {type(failure).__name__}: {failure}"
        if 200 <= code < 300:
            return code, None
        return code, f"the receiver answered {code}"
