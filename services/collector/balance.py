"""The TikHub account balance: asked of each key's account at most once per poll interval
(across all collectors), kept in Redis until it is too old to show."""

import json
from typing import Any

import structlog
from redis.asyncio import Redis

from services.collector.key_pool import KeyPool
from services.collector.rate_limiter import RateLimited
from services.collector.tikhub import Caller, TikHubClient
from services.collector.tikhub_errors import TikHubError
from shared.models import utcnow
from shared.redis_keys import RedisKeys

log = structlog.get_logger()

# A balance older than a few polls is dropped, so /usage says "unknown" rather than a stale figure.
BALANCE_TTL_POLLS = 3


def read_account(payload: Any) -> dict[str, Any] | None:
    """The account's balance, free credit and e-mail (which tells accounts apart), or None
    when the answer has no balance."""
    user = payload.get("user_data") if isinstance(payload, dict) else None
    if not isinstance(user, dict) or not isinstance(user.get("balance"), int | float):
        return None
    free_credit = user.get("free_credit")
    return {
        "balance_usd": float(user["balance"]),
        "free_credit_usd": float(free_credit) if isinstance(free_credit, int | float) else None,
        "account": str(user.get("email") or user.get("user_id") or ""),
    }


async def poll_balances(
    pool: KeyPool, tikhub: TikHubClient, redis: Redis, keys: RedisKeys, *, every_seconds: int
) -> bool:
    """Ask TikHub for every usable key's balance, unless some collector did within
    `every_seconds`; True when this call asked."""
    if not await redis.set(keys.tikhub_balance_poll, "1", nx=True, ex=every_seconds):
        return False
    for member in pool.members:
        if not (await member.breaker.admit()).allowed:
            continue
        try:
            account = read_account(await tikhub.account(Caller(member)))
        except (TikHubError, RateLimited) as error:
            log.warning(
                "collector.tikhub_balance_unread",
                key_fingerprint=member.fingerprint,
                error=str(error),
            )
            continue
        if account is None:
            log.warning("collector.tikhub_balance_missing", key_fingerprint=member.fingerprint)
            continue
        account["checked_at"] = utcnow().isoformat().replace("+00:00", "Z")
        await redis.set(
            keys.tikhub_balance(member.fingerprint),
            json.dumps(account),
            ex=BALANCE_TTL_POLLS * every_seconds,
        )
    return True
