"""The `deliver_webhook` job: one attempt at one delivery, signed per Standard Webhooks v1.

The attempt is logged as `sending` and committed before the request goes out, and its outcome
is written after, both guarded by the attempt's number: a second run of the same job finds the
attempt made and does nothing, and an attempt cut off by the process's end is logged as
interrupted when the next one (claimed after the lease) starts. So no attempt is lost or made
twice, though a receiver may get an event again whose answer was not recorded.
"""

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from shared.jobs import DELIVERY_LEASE
from shared.models import DeliveryStatus, utcnow
from shared.repositories.webhooks import AttemptTarget, WebhookRepository
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


def webhook_client() -> httpx.AsyncClient:
    """The HTTP client deliveries go out on: no redirects (a 3xx is not a delivery)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(SEND_TIMEOUT_SECONDS),
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


class WebhookSender:
    """Makes delivery attempts: log, send, log the outcome."""

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

    async def deliver(self, delivery_id: int, attempt: int) -> str:
        """Make attempt `attempt` of a delivery unless it was made already; return the
        delivery's status after it (`skipped` when there was nothing to do)."""
        async with self.sessions.begin() as session:
            target = await WebhookRepository(session).start_attempt(
                delivery_id, attempt, now=self.clock(), lease=DELIVERY_LEASE
            )
        if target is None:
            return "skipped"
        started = time.perf_counter()
        response_status, error = await self._send(target)
        duration_ms = round((time.perf_counter() - started) * 1000)
        now = self.clock()
        status, next_attempt_at = next_step(attempt, response_status, now)
        async with self.sessions.begin() as session:
            webhooks = WebhookRepository(session)
            await webhooks.finish_attempt(
                delivery_id,
                attempt,
                now=now,
                status=status,
                next_attempt_at=next_attempt_at,
                duration_ms=duration_ms,
                response_status=response_status,
                error=error,
            )
            if response_status == GONE:
                await webhooks.disable(
                    target.webhook_id, reason="the receiver answered 410 Gone", now=now
                )
        # The URL is not logged: receivers often carry a token in it.
        log.info(
            "collector.webhook_attempt",
            delivery_id=delivery_id,
            webhook_id=target.webhook_id,
            event_id=target.event_id,
            attempt=attempt,
            status=status.value,
            response_status=response_status,
            duration_ms=duration_ms,
            error=error,
        )
        return status.value

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
                # Streamed and left unread: only the status counts, whatever the body's size.
                async with self.http.stream(
                    "POST", target.url, content=target.body, headers=headers
                ) as response:
                    code = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {SEND_TIMEOUT_SECONDS:g} s"
        except httpx.HTTPError as failure:
            return None, f"request failed: {type(failure).__name__}: {failure}"
        if 200 <= code < 300:
            return code, None
        return code, f"the receiver answered {code}"
