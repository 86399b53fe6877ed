"""A running job's claim in Redis, kept short and renewed, so a killed worker's jobs run again soon.

arq marks a job as taken with an in-progress key that lives for the job timeout plus 10 s: the
longest a job may run, however quickly the worker that took it died. While the job runs, this
lease shortens that key and keeps renewing it; once the worker is gone, the key expires within
one lease and another worker takes the job (still in the queue) again. The key name is arq's
(`arq.constants`, pinned below 0.29, checked by tests/collector/test_job_lease.py).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger()

# Renewals per lease: two of them may fail (a Redis blip) before the lease runs out.
RENEWALS_PER_LEASE = 3


@contextlib.asynccontextmanager
async def job_lease(redis: Redis, job_id: str, *, seconds: int) -> AsyncIterator[None]:
    """Hold job `job_id`'s in-progress key to `seconds` from now, renewed until the block exits."""
    key = in_progress_key_prefix + job_id
    lease_ms = seconds * 1000

    async def renew() -> None:
        while True:
            try:
                # PEXPIRE never creates the key: a lease cannot outlive arq's own finish.
                await redis.pexpire(key, lease_ms)
            except RedisError as error:
                log.warning("collector.lease_renewal_failed", error=repr(error))
            await asyncio.sleep(seconds / RENEWALS_PER_LEASE)

    renewing = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
