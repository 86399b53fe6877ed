"""The shared rate limiter, on the real Redis."""

import asyncio
import time

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.collector.metrics import CollectorMetrics
from services.collector.rate_limiter import RateLimited, RateLimiter
from shared.redis_keys import RedisKeys


async def test_calls_are_booked_a_spacing_apart_and_refused_beyond_the_longest_wait(
    redis: Redis, keys: RedisKeys
) -> None:
    metrics = CollectorMetrics(CollectorRegistry())
    limiter = RateLimiter(
        redis,
        keys.tikhub_rate_limiter("k"),
        rate_per_second=20,
        max_wait_seconds=0.12,
        metrics=metrics,
    )

    # At 20/s the slots are 0, 50 and 100 ms away; a fourth would be 150 ms away.
    outcomes = await asyncio.gather(*(limiter.acquire() for _ in range(5)), return_exceptions=True)

    assert sum(outcome is None for outcome in outcomes) == 3
    refusals = [outcome for outcome in outcomes if isinstance(outcome, RateLimited)]
    assert len(refusals) == 2
    assert all(0.12 <= refusal.retry_in <= 0.15 + 0.12 for refusal in refusals)
    assert metrics.registry.get_sample_value("collector_rate_limit_wait_seconds_count") == 3


async def test_no_sliding_second_holds_more_calls_than_the_rate_even_after_a_stalled_loop(
    redis: Redis, keys: RedisKeys
) -> None:
    rate = 10
    metrics = CollectorMetrics(CollectorRegistry())
    limiter = RateLimiter(
        redis,
        keys.tikhub_rate_limiter("k"),
        rate_per_second=rate,
        max_wait_seconds=5,
        metrics=metrics,
    )
    sent: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        sent.append(time.monotonic())

    async def stall() -> None:
        await asyncio.sleep(0.55)
        # Blocks the whole event loop, as a long synchronous step would: the calls booked
        # meanwhile all wake together when it ends.
        time.sleep(0.35)  # noqa: ASYNC251

    await asyncio.gather(stall(), *(call() for _ in range(25)))

    assert len(sent) == 25
    busiest = max(sum(start <= t < start + 1 for t in sent) for start in sent)
    assert busiest <= rate
    rebookings = metrics.registry.get_sample_value("collector_rate_limit_rebookings_total")
    assert rebookings is not None
    assert rebookings > 0
