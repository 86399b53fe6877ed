"""`--check` and `--reset-breaker`, against the real Redis."""

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from services.collector.health import check, reset_breaker
from services.collector.worker import worker_name
from shared.models import utcnow
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.tikhub_usage import key_fingerprint, utc_day


async def test_check_fails_without_a_recent_health_record(
    settings: Settings, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not await check(settings)
    assert "no health record" in capsys.readouterr().out


async def test_a_rejected_key_is_reported_but_does_not_fail_liveness(
    settings: Settings, redis: Redis, keys: RedisKeys, capsys: pytest.CaptureFixture[str]
) -> None:
    await redis.set(keys.collector_health_check(worker_name()), "j_complete=3 j_failed=0")
    fingerprint = key_fingerprint(settings.tikhub_api_key.get_secret_value())
    await redis.hset(  # type: ignore[misc]  # redis-py types hset as maybe-sync
        keys.tikhub_breaker(fingerprint),
        mapping={"credential": fingerprint, "reason": "HTTP 402: no balance"},
    )

    assert await check(settings)

    out = capsys.readouterr().out
    assert "alive: j_complete=3" in out
    assert "API key was rejected (HTTP 402: no balance)" in out


async def test_reset_breaker_closes_it(settings: Settings, redis: Redis, keys: RedisKeys) -> None:
    breaker = keys.tikhub_breaker(key_fingerprint(settings.tikhub_api_key.get_secret_value()))
    await redis.hset(breaker, mapping={"open_until": "9999999999", "reason": "x"})  # type: ignore[misc]  # redis-py types hset as maybe-sync

    assert await reset_breaker(settings)
    assert not await reset_breaker(settings)
    assert await redis.exists(breaker) == 0


async def test_check_prints_each_pooled_key_and_the_spent_budget(
    settings: Settings, redis: Redis, keys: RedisKeys, capsys: pytest.CaptureFixture[str]
) -> None:
    pooled = settings.model_copy(
        update={"tikhub_api_keys": SecretStr("second-key-0123"), "tikhub_daily_budget_usd": 1.0}
    )
    await redis.set(keys.collector_health_check(worker_name()), "j_complete=1")
    day = utc_day(utcnow()).isoformat()
    await redis.set(keys.tikhub_spend(day), 1_000_500)
    await redis.set(keys.tikhub_budget_skips(day), 7)

    assert await check(pooled)

    out = capsys.readouterr().out
    assert f"key {key_fingerprint('second-key-0123')}: TikHub breaker closed." in out
    assert "second-key-0123" not in out
    assert "budget spent: 1.0005 of 1 USD today (UTC)" in out
    assert "7 slots skipped" in out
