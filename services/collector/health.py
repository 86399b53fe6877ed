"""`--check`: is this collector process alive, and can it reach TikHub?"""

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.collector.breaker import describe_breaker
from services.collector.worker import worker_name
from shared.models import utcnow
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.tikhub_usage import key_fingerprint, usd, utc_day


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
        now = time.time()
        breakers = [
            f"key {key_fingerprint(api_key)}: "
            + await describe_breaker(
                redis, keys.tikhub_breaker(key_fingerprint(api_key)), api_key=api_key, now=now
            )
            for api_key in settings.tikhub_key_pool() or [""]
        ]
        budget = await describe_budget(redis, keys, settings.tikhub_daily_budget_usd)
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
    for breaker in breakers:
        print(breaker, flush=True)
    print(budget, flush=True)
    return record is not None


async def describe_budget(redis: Redis, keys: RedisKeys, budget_usd: float | None) -> str:
    """Today's TikHub spend against the daily budget, in one sentence."""
    day = utc_day(utcnow()).isoformat()
    spent = usd(int(await redis.get(keys.tikhub_spend(day)) or 0))
    if budget_usd is None:
        return f"TikHub spend today (UTC): {spent:.4f} USD; no daily budget set."
    if spent >= budget_usd:
        skipped = int(await redis.get(keys.tikhub_budget_skips(day)) or 0)
        return (
            f"TikHub daily budget spent: {spent:.4f} of {budget_usd:g} USD today (UTC); "
            f"no billable call until 00:00 UTC ({skipped} slots skipped so far)."
        )
    return f"TikHub spend today (UTC): {spent:.4f} of the {budget_usd:g} USD daily budget."


async def reset_breaker(settings: Settings) -> bool:
    """Close every pooled key's TikHub breaker by hand; True if any was set."""
    keys = RedisKeys(settings.redis_prefix)
    names = [
        keys.tikhub_breaker(key_fingerprint(api_key))
        for api_key in settings.tikhub_key_pool() or [""]
    ]
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        return bool(await redis.delete(*names))
    finally:
        await redis.aclose()
