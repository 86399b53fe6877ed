"""`--check`: is this collector process alive, and can it reach TikHub?"""

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.collector.breaker import describe_breaker
from services.collector.worker import worker_name
from shared.redis_keys import RedisKeys
from shared.settings import Settings


async def check(settings: Settings) -> bool:
    """Whether this host's worker recorded its health recently; prints what it found.

    The verdict is liveness only: a rejected TikHub key is printed (and exported as a metric)
    but does not fail the probe, because restarting the process cannot fix a key.
    """
    keys = RedisKeys(settings.redis_prefix)
    worker = worker_name()
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        record = await redis.get(keys.collector_health_check(worker))
        breaker = await describe_breaker(
            redis,
            keys.tikhub_breaker,
            api_key=settings.tikhub_api_key.get_secret_value(),
            now=time.time(),
        )
    except RedisError as error:
        # The worker itself waits for Redis and resumes; restarting it would not help.
        print(
            f"collector health unreadable, Redis unreachable: {error!r}; "
            "the collector reconnects by itself",
            flush=True,
        )
        return False
    finally:
        await redis.aclose()
    if record is None:
        print(
            f"collector {worker}: no health record in the last "
            f"{settings.collector_health_check_interval_seconds} s",
            flush=True,
        )
    else:
        print(f"collector {worker} alive: {record.decode()}", flush=True)
    print(breaker, flush=True)
    return record is not None


async def reset_breaker(settings: Settings) -> bool:
    """Close the TikHub breaker by hand; True if it was set."""
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        return bool(await redis.delete(RedisKeys(settings.redis_prefix).tikhub_breaker))
    finally:
        await redis.aclose()
