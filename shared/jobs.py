"""The job contract between the scheduler (which enqueues) and the collector (which runs)."""

from datetime import datetime, timedelta

COLLECT_FUNCTION = "collect"
DELIVER_FUNCTION = "deliver_webhook"

# How long a claimed delivery attempt is held: longer than it can take from the claim to the
# attempt's end (the queue's wait, the 15 s send, writing the outcome). Past it, the attempt
# is presumed lost with its process, and the next one is claimed.
DELIVERY_LEASE = timedelta(seconds=60)


def collect_job_id(task_id: str, scheduled_for: datetime) -> str:
    """The job id of one slot; arq refuses a second job with the same id."""
    return f"collect:{task_id}:{int(scheduled_for.timestamp())}"


def deliver_job_id(event_id: str, delivery_id: int, attempt: int) -> str:
    """The job id of one attempt at a webhook delivery. The event's id makes it unique across
    deployments sharing a Redis (arq's keys carry no prefix), as delivery ids are not."""
    return f"deliver:{event_id}:{delivery_id}:{attempt}"
