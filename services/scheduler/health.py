"""The scheduler's heartbeat in Redis and the `--check` probe that reads it."""

import socket
import time

from redis.asyncio import Redis

from services.scheduler.connections import open_redis
from shared.redis_keys import RedisKeys
from shared.settings import Settings


def replica_name() -> str:
    """This scheduler's name in the heartbeat: the host (a pod's name in Kubernetes)."""
    return socket.gethostname()


class Heartbeat:
    """Each replica's time of its last loop iteration, in one sorted set (replica → epoch s)."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl_seconds: int, replica: str) -> None:
        self.redis = redis
        self.key = keys.scheduler_heartbeat
        self.ttl_seconds = ttl_seconds
        self.replica = replica

    async def beat(self) -> None:
        """Record that this replica is alive now, and forget replicas silent for a whole TTL."""
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.key, {self.replica: now})
            pipe.zremrangebyscore(self.key, "-inf", now - self.ttl_seconds)
            pipe.expire(self.key, self.ttl_seconds)
            await pipe.execute()

    async def clear(self) -> None:
        """Remove this replica's entry (on a clean stop it is no longer alive)."""
        await self.redis.zrem(self.key, self.replica)

    async def age(self) -> float | None:
        """Seconds since this replica's last beat, or None when it has none."""
        beaten_at = await self.redis.zscore(self.key, self.replica)
        return None if beaten_at is None else max(0.0, time.time() - beaten_at)


def heartbeat_for(settings: Settings, redis: Redis) -> Heartbeat:
    """This replica's heartbeat under the deployment's prefix."""
    return Heartbeat(
        redis,
        RedisKeys(settings.redis_prefix),
        ttl_seconds=settings.scheduler_heartbeat_ttl_seconds,
        replica=replica_name(),
    )


async def check(settings: Settings) -> bool:
    """Whether this replica's heartbeat is fresh; prints the verdict for the probe's log."""
    redis = open_redis(settings)
    heartbeat = heartbeat_for(settings, redis)
    try:
        age = await heartbeat.age()
    except Exception as error:
        print(f"scheduler heartbeat unreadable: {error!r}", flush=True)
        return False
    finally:
        await redis.aclose()
    if age is None or age >= heartbeat.ttl_seconds:
        print(f"no fresh scheduler heartbeat for {heartbeat.replica}", flush=True)
        return False
    print(f"scheduler {heartbeat.replica} alive: last beat {age:.1f} s ago", flush=True)
    return True
