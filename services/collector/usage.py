"""The collector's side of the TikHub usage ledger: counting each call, flushing the counts to
MySQL, and the daily budget."""

import uuid
from collections.abc import Mapping
from datetime import timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import EventType, record_event
from shared.models import utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.usage import UsageKey, UsageRepository
from shared.tikhub_ledger import field_prefix, ledger_since, parse_counts
from shared.tikhub_usage import MICRO_USD, price_micro_usd, seconds_to_next_day, utc_day

log = structlog.get_logger()

# The pending hash becomes a batch (and the batch is listed) in one step, so no count is read
# by a flush and incremented after it.
TAKE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('SADD', KEYS[3], ARGV[1])
end
return redis.call('SMEMBERS', KEYS[3])
"""
# Today's spend outlives its day by a little, for a collector whose clock lags.
SPEND_TTL_SECONDS = 2 * 86_400
# Flush records are only needed while their batch might still be in Redis.
FLUSH_RECORD_DAYS = 7


class BudgetExhausted(Exception):
    """Today's TikHub budget is spent; no billable call until 00:00 UTC."""

    def __init__(self, spent_usd: float, budget_usd: float, retry_in: float) -> None:
        super().__init__(
            f"the daily TikHub budget of {budget_usd:g} USD is spent ({spent_usd:.4f} USD today)"
        )
        self.retry_in = retry_in


class UsageLedger:
    """Counts TikHub calls in Redis and moves the counts to MySQL."""

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        sessions: async_sessionmaker[AsyncSession],
        *,
        prices: Mapping[str, float],
        daily_budget_usd: float | None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.sessions = sessions
        self.prices = prices
        self.budget_micro_usd = (
            None if daily_budget_usd is None else round(daily_budget_usd * MICRO_USD)
        )
        self._take = redis.register_script(TAKE_SCRIPT)

    def billable(self, endpoint: str) -> bool:
        """Whether a successful call to `endpoint` costs anything."""
        return price_micro_usd(self.prices, endpoint) > 0

    async def record(
        self, *, task_id: str, endpoint: str, fingerprint: str, answered: bool
    ) -> None:
        """Count one call; `answered` (a 2xx) calls are billed, errors are not."""
        now = utcnow()
        key = UsageKey(utc_day(now), task_id, endpoint, fingerprint)
        field = field_prefix(key)
        price = price_micro_usd(self.prices, endpoint) if answered else 0
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(self.keys.tikhub_usage_pending, field + "c", 1)
                if answered:
                    pipe.hincrby(self.keys.tikhub_usage_pending, field + "b", 1)
                    pipe.hincrby(self.keys.tikhub_usage_pending, field + "u", price)
                if price:
                    spend = self.keys.tikhub_spend(key.day.isoformat())
                    pipe.incrby(spend, price)
                    pipe.expire(spend, SPEND_TTL_SECONDS)
                await pipe.execute()
        except RedisError as error:
            # The call was made and its answer must still be stored: a count lost with Redis
            # is the ledger's documented loss (at most what Redis held), a lost row is not.
            log.warning(
                "collector.usage_uncounted", task_id=task_id, endpoint=endpoint, error=repr(error)
            )

    async def flush(self) -> int:
        """Move every count still in Redis to MySQL; returns how many batches were added."""
        batch_key = self.keys.tikhub_usage_batch(uuid.uuid4().hex)
        batch_ids = await self._take(
            keys=[self.keys.tikhub_usage_pending, batch_key, self.keys.tikhub_usage_batches],
            args=[batch_key.rsplit(":", 1)[1]],
        )
        added = 0
        for raw_id in batch_ids:
            batch_id = raw_id.decode()
            key = self.keys.tikhub_usage_batch(batch_id)
            counts = parse_counts(await self.redis.hgetall(key))  # type: ignore[misc]
            async with self.sessions.begin() as session:
                added += await UsageRepository(session).add_batch(batch_id, counts, now=utcnow())
            # Deleted only once MySQL has it: a crash before this leaves the batch to the next
            # flush, whose add finds it applied.
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.srem(self.keys.tikhub_usage_batches, batch_id)
                await pipe.execute()
        if added:
            async with self.sessions.begin() as session:
                await UsageRepository(session).forget_batches_before(
                    utcnow() - timedelta(days=FLUSH_RECORD_DAYS)
                )
        return added

    async def spent_micro_usd(self) -> int:
        """Today's cost so far; seeded from the ledger when Redis has no figure (it restarted)."""
        day = utc_day(utcnow())
        spend_key = self.keys.tikhub_spend(day.isoformat())
        raw = await self.redis.get(spend_key)
        if raw is not None:
            return int(raw)
        async with self.sessions() as session:
            counts = await ledger_since(self.redis, self.keys, session, day)
        spent = sum(count.cost_micro_usd for key, count in counts.items() if key.day == day)
        # NX: a call counted meanwhile has already created the key; its figure wins.
        await self.redis.set(spend_key, spent, nx=True, ex=SPEND_TTL_SECONDS)
        return int(await self.redis.get(spend_key) or spent)

    async def ensure_budget(self, endpoint: str) -> None:
        """Raise BudgetExhausted when a billable call to `endpoint` would go over the budget."""
        if self.budget_micro_usd is None or not self.billable(endpoint):
            return
        spent = await self.spent_micro_usd()
        if spent >= self.budget_micro_usd:
            raise BudgetExhausted(
                spent / MICRO_USD, self.budget_micro_usd / MICRO_USD, seconds_to_next_day(utcnow())
            )

    async def budget_exceeded_first_time(self) -> bool:
        """True once per UTC day, for the first caller after the budget was reached.

        The day's row and the `budget.exceeded` event are written here, in one transaction, so
        however many collectors reach the budget, receivers hear of it once a day.
        """
        now = utcnow()
        day = utc_day(now)
        async with self.sessions.begin() as session:
            first = await UsageRepository(session).mark_budget_exceeded(day, now=now)
            if first:
                assert self.budget_micro_usd is not None, "only a budget can be exceeded"
                await record_event(
                    session,
                    EventType.BUDGET_EXCEEDED,
                    {
                        "date": day.isoformat(),
                        "cost_usd": await self.spent_micro_usd() / MICRO_USD,
                        "daily_budget_usd": self.budget_micro_usd / MICRO_USD,
                    },
                    now=now,
                )
            return first

    async def count_budget_skip(self) -> None:
        """Count a slot skipped because the budget was spent."""
        key = self.keys.tikhub_budget_skips(utc_day(utcnow()).isoformat())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, SPEND_TTL_SECONDS)
            await pipe.execute()
