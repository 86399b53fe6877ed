"""The shared rate limiter, on the real Redis."""

import asyncio
import time
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.collector.connections import TikHubConnections
from services.collector.metrics import CollectorMetrics
from services.collector.rate_limiter import Grant, RateLimited, RateLimiter, Turn
from shared.models import utcnow
from shared.redis_keys import RedisKeys


def limiter_on(
    redis: Redis,
    keys: RedisKeys,
    rate: float,
    max_wait: float,
) -> RateLimiter:
    """A limiter of one TikHub key at `rate` calls/s, booking at most `max_wait` s ahead."""
    return RateLimiter(
        redis,
        keys.tikhub_rate_limiter("k"),
        rate_per_second=rate,
        max_wait_seconds=max_wait,
        metrics=CollectorMetrics(CollectorRegistry()),
    )


def rebookings(limiter: RateLimiter) -> float:
    """How many granted calls gave their token up and booked again."""
    return limiter.metrics.registry.get_sample_value("collector_rate_limit_rebookings_total") or 0.0


def busiest_second(sent: list[float]) -> int:
    """The most calls sent within any one sliding second."""
    return max(sum(start <= t < start + 1 for t in sent) for start in sent)


async def test_calls_are_booked_a_spacing_apart_and_refused_beyond_the_longest_wait(
    redis: Redis, keys: RedisKeys
) -> None:
    limiter = limiter_on(redis, keys, 20, 0.12)

    # No schedule yet: it may have been lost with calls still booked, so the first waits them out.
    started = time.monotonic()
    await limiter.acquire()
    # Never sooner; later only by a rebooking, when a busy machine wakes the call late.
    assert 0.12 <= time.monotonic() - started < 1
    # At 20/s the next slots are 52.5 and 105 ms away; a third would be 157.5 ms away.
    outcomes = await asyncio.gather(*(limiter.acquire() for _ in range(5)), return_exceptions=True)

    assert sum(isinstance(outcome, Grant) for outcome in outcomes) == 2
    refusals = [outcome for outcome in outcomes if isinstance(outcome, RateLimited)]
    assert len(refusals) == 3
    assert all(0.12 <= refusal.retry_in <= 0.25 + 0.12 for refusal in refusals)
    assert limiter.metrics.registry.get_sample_value("collector_rate_limit_wait_seconds_count") == 3


async def test_calls_booked_before_the_schedule_is_lost_keep_the_rate_with_later_ones(
    redis: Redis, keys: RedisKeys
) -> None:
    rate = 10
    limiter = limiter_on(redis, keys, rate, 0.5)
    sent: list[float] = []

    async def call() -> None:
        while True:
            try:
                await limiter.acquire()
            except RateLimited as limited:
                await asyncio.sleep(limited.retry_in)
                continue
            sent.append(time.monotonic())
            return

    async def redis_restarts_empty() -> None:
        await asyncio.sleep(0.25)
        await redis.delete(limiter.key)
        await asyncio.gather(*(call() for _ in range(5)))

    await call()
    # Calls are booked up to the longest wait ahead when the schedule goes, and more ask at once.
    await asyncio.gather(redis_restarts_empty(), *(call() for _ in range(15)))

    assert len(sent) == 21
    assert busiest_second(sent) <= rate


async def test_no_sliding_second_holds_more_calls_than_the_rate_even_after_a_stalled_loop(
    redis: Redis, keys: RedisKeys
) -> None:
    rate = 10
    limiter = limiter_on(redis, keys, rate, 5)
    sent: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        sent.append(time.monotonic())

    async def stall() -> None:
        await asyncio.sleep(0.55)
        # Blocks the whole event loop, as a long synchronous step would: the calls booked
        # meanwhile all wake together when it ends.
        time.sleep(0.35)  # noqa: ASYNC251

    # The first call waits out the fresh schedule; then 25 are booked at once.
    await call()
    await asyncio.gather(stall(), *(call() for _ in range(25)))

    assert len(sent) == 26
    assert busiest_second(sent) <= rate
    assert rebookings(limiter) > 0


async def test_a_turn_that_comes_back_just_after_its_instant_counts_its_lateness_from_it(
    redis: Redis, keys: RedisKeys
) -> None:
    limiter = limiter_on(redis, keys, 10, 0.05)
    await limiter.acquire()
    for attempt in range(5):
        turn = Turn(f"comes-back-{attempt}", utcnow() + timedelta(seconds=30))
        # The next instant is 105 ms away, beyond the longest wait: it is held for the turn.
        with pytest.raises(RateLimited) as held:
            await limiter.acquire(turn)
        instant = time.monotonic() + held.value.retry_in + 0.025
        # Back 30 ms after the instant, within the slack (50 ms): granted at once.
        await asyncio.sleep(instant + 0.03 - time.monotonic())
        try:
            grant = await limiter.acquire(turn)
        except RateLimited:
            continue  # woken past the slack on a busy machine: the instant was given up
        await asyncio.sleep(0.025)
        # 55 ms after the instant, though 25 ms after the grant: too late to write the request.
        assert not grant.on_time()
        return
    pytest.fail("the turn never came back within the slack")


async def test_calls_that_wait_for_a_connection_keep_the_rate_at_the_wire(
    redis: Redis, keys: RedisKeys
) -> None:
    arrived: list[float] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A keep-alive HTTP/1.1 server slow to answer the two requests after the first, so
        # that calls granted meanwhile wait for one of the two connections.
        while await reader.readuntil(b"\r\n\r\n"):
            arrived.append(time.monotonic())
            if 2 <= len(arrived) <= 3:
                await asyncio.sleep(1.0)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connections = TikHubConnections(
        f"http://127.0.0.1:{port}", "k", timeout_seconds=10, max_connections=2
    )
    rate = 10
    limiter = limiter_on(redis, keys, rate, 2.5)

    async def call() -> None:
        grant = await limiter.acquire()
        await connections.get("/", {}, before_write=lambda: limiter.confirm(grant))

    try:
        # The first call waits out the fresh schedule; then 19 are booked at once.
        await call()
        await asyncio.gather(*(call() for _ in range(19)))
    finally:
        await connections.aclose()
        server.close()

    assert len(arrived) == 20
    assert busiest_second(arrived) <= rate
    assert rebookings(limiter) > 0


async def test_collections_that_wait_on_the_queue_keep_their_place_ahead_of_later_ones(
    redis: Redis, keys: RedisKeys
) -> None:
    rate = 20
    limiter = limiter_on(redis, keys, rate, 0.12)
    deadline = utcnow() + timedelta(seconds=30)
    old = [Turn(f"old-{index}", deadline) for index in range(6)]
    new = [Turn(f"new-{index}", deadline) for index in range(6)]
    sent: list[float] = []
    # A first try refused without a turn held: none should be, the deadline is far.
    REFUSED = -1.0

    async def first_try(turn: Turn) -> float | None:
        try:
            await limiter.acquire(turn)
        except RateLimited as limited:
            return limited.retry_in if limited.held else REFUSED
        sent.append(time.monotonic())
        return None

    async def comes_back(turn: Turn, retry_in: float) -> None:
        # What arq does with the deferred job: runs it again after `retry_in`.
        while True:
            await asyncio.sleep(retry_in)
            try:
                await limiter.acquire(turn)
            except RateLimited as limited:
                retry_in = limited.retry_in
                continue
            sent.append(time.monotonic())
            return

    # Six slots ask at once, and those beyond the longest wait are deferred; then six later
    # ones ask while those wait on the queue.
    old_tries = await asyncio.gather(*(first_try(turn) for turn in old))
    new_tries = await asyncio.gather(*(first_try(turn) for turn in new))

    held_old = [turn for turn, retry in zip(old, old_tries, strict=True) if retry is not None]
    assert len(held_old) >= 2
    assert REFUSED not in old_tries + new_tries
    assert all(retry is not None for retry in new_tries)
    instants = {
        turn.name: int(await redis.get(limiter.turn_key(turn)) or 0) for turn in held_old + new
    }
    assert max(instants[turn.name] for turn in held_old) < min(instants[t.name] for t in new)
    deferred = [
        (turn, retry)
        for turn, retry in zip(old + new, old_tries + new_tries, strict=True)
        if retry is not None
    ]
    await asyncio.gather(*(comes_back(turn, retry) for turn, retry in deferred))
    assert len(sent) == 12
    assert busiest_second(sent) <= rate
    assert not any([await limiter.holds(turn) for turn in old + new])


async def test_a_collection_whose_turn_would_come_after_its_deadline_books_nothing(
    redis: Redis, keys: RedisKeys
) -> None:
    limiter = limiter_on(redis, keys, 2, 0.1)
    await limiter.acquire()
    soon = Turn("due-soon", utcnow() + timedelta(seconds=0.2))

    # The next instant is 0.5 s away, after this slot's deadline: refused, not held.
    with pytest.raises(RateLimited) as refused:
        await limiter.acquire(soon)

    assert not refused.value.held
    assert not await limiter.holds(soon)
    later = Turn("due-later", utcnow() + timedelta(seconds=30))
    with pytest.raises(RateLimited) as held:
        await limiter.acquire(later)
    # The refused slot took no instant: the later one gets the next free one.
    assert held.value.held
    assert 0.3 <= held.value.retry_in + 0.05 <= 0.55
    assert await limiter.holds(later)
