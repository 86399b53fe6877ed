"""The job contract between the scheduler (which enqueues) and the collector (which runs)."""

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

COLLECT_FUNCTION = "collect"
DELIVER_FUNCTION = "deliver_webhooks"
# Delivery attempts per job. A job logs its attempts in one commit and their outcomes in
# another, so a burst costs two commits per batch instead of two per delivery; small enough
# that one burst still spreads over several jobs (and collectors), and that a receiver is not
# opened more connections at once than a small listen backlog takes (in the benchmark, Python's
# http.server reset 118 of 282 requests with 50 a job, 5 of about 1,300 with 10, while every
# request still opened a new connection).
DELIVERIES_PER_JOB = 10

# How long a claimed delivery attempt is held: longer than it can take from the claim to the
# attempt's end (the queue's wait, the 15 s send, writing the outcome). Past it, the attempt
# is presumed lost with its process, and the next one is claimed.
DELIVERY_LEASE = timedelta(seconds=60)


def collect_job_id(task_id: str, scheduled_for: datetime) -> str:
    """The job id of one slot; arq refuses a second job with the same id."""
    return f"collect:{task_id}:{int(scheduled_for.timestamp())}"


def deliver_job_id(event_id: str, attempts: Sequence[tuple[int, int]]) -> str:
    """The job id of a batch of `(delivery_id, attempt)`, the first of them a delivery of event
    `event_id`. The event's id makes it unique across deployments sharing a Redis (arq's keys
    carry no prefix), as delivery ids are not; the digest of the attempts makes the same batch
    claimed again (the claim's commit failed) the same job, which arq refuses."""
    digest = hashlib.blake2b(repr(list(attempts)).encode(), digest_size=8).hexdigest()
    return f"deliver:{event_id}:{digest}"
