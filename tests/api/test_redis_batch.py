"""The Redis batcher: concurrent commands share a round trip; each caller gets its own answer."""

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from services.api.redis_batch import RedisBatcher
from shared.redis_keys import RedisKeys
from tests.api.support import DEAD_REDIS_URL

# Returns its key's value and the number of times it ran, so a test sees every run.
COUNTING_SCRIPT = "return {redis.call('GET', KEYS[1]), redis.call('INCR', KEYS[2])}"


class CountedPipelines:
    """Counts the pipelines a Redis client sends."""

    def __init__(self, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        make_pipeline = redis.pipeline

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.sent += 1
            return make_pipeline(*args, **kwargs)

        monkeypatch.setattr(redis, "pipeline", counted)


async def test_concurrent_reads_share_one_round_trip_and_each_gets_its_own_value(
    redis: Redis, keys: RedisKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"{keys.prefix}:batch:{n}" for n in range(50)]
    await redis.mset({name: f"value {n}".encode() for n, name in enumerate(names)})
    pipelines = CountedPipelines(redis, monkeypatch)
    batcher = RedisBatcher(redis)

    values = await asyncio.gather(*(batcher.get(name) for name in [*names, f"{keys.prefix}:none"]))

    assert values == [f"value {n}".encode() for n in range(50)] + [None]
    assert pipelines.sent == 1
    # Reads one after another each go out on their own.
    assert await batcher.get(names[0]) == b"value 0"
    assert await batcher.get(names[1]) == b"value 1"
    assert pipelines.sent == 3


async def test_one_failing_command_fails_only_its_caller(redis: Redis, keys: RedisKeys) -> None:
    await redis.hset(f"{keys.prefix}:hash", "field", "1")  # type: ignore[misc]  # redis-py types hset as maybe-sync
    await redis.set(f"{keys.prefix}:text", b"fine")
    batcher = RedisBatcher(redis)

    wrong_type, fine = await asyncio.gather(
        batcher.get(f"{keys.prefix}:hash"),
        batcher.get(f"{keys.prefix}:text"),
        return_exceptions=True,
    )

    assert isinstance(wrong_type, ResponseError)
    assert "WRONGTYPE" in str(wrong_type)
    assert fine == b"fine"


async def test_without_redis_every_waiting_caller_gets_the_connection_error() -> None:
    dead = Redis.from_url(DEAD_REDIS_URL)
    batcher = RedisBatcher(dead)
    outcomes = await asyncio.gather(
        *(batcher.get(f"key:{n}") for n in range(3)), return_exceptions=True
    )
    await dead.aclose()
    assert [type(outcome) for outcome in outcomes] == [ConnectionError] * 3


async def test_a_caller_that_gives_up_does_not_disturb_the_others(
    redis: Redis, keys: RedisKeys
) -> None:
    await redis.set(f"{keys.prefix}:kept", b"still here")
    batcher = RedisBatcher(redis)
    abandoned = asyncio.ensure_future(batcher.get(f"{keys.prefix}:kept"))
    kept = asyncio.ensure_future(batcher.get(f"{keys.prefix}:kept"))
    await asyncio.sleep(0)  # both queued, not yet answered
    abandoned.cancel()

    assert await kept == b"still here"
    assert abandoned.cancelled()


async def test_a_script_runs_once_per_call_even_after_redis_forgot_it(
    redis: Redis, keys: RedisKeys
) -> None:
    await redis.set(f"{keys.prefix}:value", b"v")
    script = redis.register_script(COUNTING_SCRIPT)
    batcher = RedisBatcher(redis)
    arguments: tuple[list[str], list[Any]] = (
        [f"{keys.prefix}:value", f"{keys.prefix}:runs"],
        [],
    )
    await redis.script_flush()

    first, second = await asyncio.gather(
        batcher.script(script, *arguments), batcher.script(script, *arguments)
    )
    third = await batcher.script(script, *arguments)

    assert sorted([first, second, third], key=lambda reply: reply[1]) == [
        [b"v", 1],
        [b"v", 2],
        [b"v", 3],
    ]
