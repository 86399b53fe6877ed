"""One batch of webhook deliveries: claim the due ones, enqueue an attempt of each, commit."""

from datetime import datetime

from services.scheduler.dispatcher import BatchResult, QueueFiller
from shared.jobs import DELIVERY_LEASE
from shared.repositories.webhooks import WebhookRepository


class DeliveryDispatcher(QueueFiller):
    """Turns due deliveries (new or retries) into queued attempts, one transaction per batch."""

    async def dispatch_batch(self, *, now: datetime) -> BatchResult:
        """Claim up to one batch of deliveries due at `now`, enqueue an attempt of each, commit.

        As with slots, a failure rolls the claim back and arq refuses an attempt queued twice
        (same id). The claim holds each delivery for the lease: an attempt whose job vanished
        with Redis, or whose process died, is claimed again once it ends.
        """
        async with self.sessions.begin() as session:
            due = await WebhookRepository(session).claim_due(
                now=now, limit=self.batch_size, lease=DELIVERY_LEASE
            )
            if not due:
                return BatchResult()
            result = await self.queue.enqueue_deliveries(due)
        return BatchResult(len(due), result.enqueued, result.refused)
