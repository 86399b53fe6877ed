"""The heartbeat each replica leaves in Redis, and the `--check` probe that reads it."""

import time

import pytest
from redis.asyncio import Redis

from services.scheduler.health import Heartbeat, check, heartbeat_for
from shared.redis_keys import RedisKeys
from shared.settings import Settings


async def test_check_passes_only_while_this_replica_has_a_fresh_beat(
    settings: Settings, queue_redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    heartbeat = heartbeat_for(settings, queue_redis)
    assert not await check(settings)
    assert "no fresh scheduler heartbeat" in capsys.readouterr().out

    await heartbeat.beat()
    assert await check(settings)
    assert "alive" in capsys.readouterr().out

    await heartbeat.clear()
    assert not await check(settings)


async def test_a_beat_forgets_replicas_silent_for_a_whole_ttl(
    keys: RedisKeys, queue_redis: Redis
) -> None:
    alive = Heartbeat(queue_redis, keys, ttl_seconds=30, replica="alive")
    gone = Heartbeat(queue_redis, keys, ttl_seconds=30, replica="gone")
    await queue_redis.zadd(keys.scheduler_heartbeat, {"gone": time.time() - 31})

    await alive.beat()

    assert await gone.age() is None
    age = await alive.age()
    assert age is not None
    assert age < 30
    assert 0 < await queue_redis.ttl(keys.scheduler_heartbeat) <= 30


async def test_check_fails_when_redis_is_unreachable(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    assert not await check(unreachable)
    assert "unreadable" in capsys.readouterr().out
