"""TikHub usage and cost: today's calls, the last 30 days, projections, balance, budget, keys."""

import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Task, TaskStatus, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.usage import UsageCounts, UsageRepository
from shared.schemas import (
    KeyState,
    TaskCounts,
    TaskUsage,
    TikHubUsage,
    Usage,
    UsageDay,
    UsageKey,
    UsageProjection,
    UsageToday,
)
from shared.settings import Settings
from shared.tikhub_ledger import ledger_since
from shared.tikhub_usage import (
    Projection,
    TaskGroup,
    capacity_warnings,
    key_fingerprint,
    project,
    usd,
    utc_day,
)

log = structlog.get_logger()

DAYS = 30
USD_DIGITS = 6


@dataclass(frozen=True, slots=True)
class PoolKeyState:
    """One key of the pool as the collectors last published it."""

    fingerprint: str
    state: KeyState
    rate_per_second: float


@dataclass(frozen=True, slots=True)
class Balance:
    """The balance over the pool's distinct accounts, and when it was read."""

    balance_usd: float | None = None
    free_credit_usd: float | None = None
    checked_at: datetime | None = None


class UsageService:
    """Reads the ledger (MySQL and what Redis has not flushed), the pool and the tasks."""

    def __init__(
        self, session: AsyncSession, redis: Redis, keys: RedisKeys, settings: Settings
    ) -> None:
        self.session = session
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.usage = UsageRepository(session)

    async def overview(self) -> Usage:
        """The body of GET /usage."""
        today = utc_day(utcnow())
        pool = await self._pool()
        counts = await self._ledger(today - timedelta(days=DAYS - 1))
        groups = await self.usage.task_groups()
        projection = self._projection(groups)
        capacity = self._capacity(pool)
        balance = await self._balance(pool)
        statuses = {status: 0 for status in TaskStatus}
        for status, group in groups:
            statuses[status] += group.count
        return Usage(
            tikhub=TikHubUsage(
                today=_today(counts, today),
                daily=_daily(counts, today),
                projected=UsageProjection(
                    calls_per_day=projection.calls_per_day,
                    cost_usd_per_day=round(projection.cost_usd_per_day, USD_DIGITS),
                    cost_usd_per_30_days=round(projection.cost_usd_per_day * DAYS, USD_DIGITS),
                ),
                rate_limit_per_second=capacity,
                capacity_used_pct=(
                    round(projection.calls_per_second / capacity * 100, 2) if capacity else None
                ),
                balance_usd=balance.balance_usd,
                free_credit_usd=balance.free_credit_usd,
                balance_checked_at=balance.checked_at,
                runway_days=(
                    round(balance.balance_usd / projection.cost_usd_per_day, 1)
                    if balance.balance_usd is not None and projection.cost_usd_per_day > 0
                    else None
                ),
                daily_budget_usd=self.settings.tikhub_daily_budget_usd,
                budget_exceeded_at=await self.usage.budget_exceeded_at(today),
                budget_skipped_slots_today=await self._budget_skips(today),
                keys=_keys(pool, counts, today),
                warnings=capacity_warnings(projection.calls_per_second, capacity),
            ),
            tasks=TaskCounts(
                active=statuses[TaskStatus.ACTIVE],
                paused=statuses[TaskStatus.PAUSED],
                stopped=statuses[TaskStatus.STOPPED],
            ),
        )

    async def of_task(self, task: Task) -> TaskUsage:
        """A task's `usage` in task_status."""
        today = utc_day(utcnow())
        counts = await self._ledger(today, task_id=task.id)
        calls = sum(count.calls for count in counts.values())
        cost = sum(count.cost_micro_usd for count in counts.values())
        group = TaskGroup(task.task_type, task.interval_seconds, task.track_posts)
        projection = self._projection([(task.status, group)])
        return TaskUsage(
            calls_today=calls,
            cost_usd_today=round(usd(cost), USD_DIGITS),
            projected_calls_per_day=projection.calls_per_day,
            projected_cost_usd_per_day=round(projection.cost_usd_per_day, USD_DIGITS),
        )

    async def capacity_warnings(self) -> list[str]:
        """What creating or updating tasks answers when the active ones outgrow the key pool
        (read in the request's transaction, so the task just written counts)."""
        projection = self._projection(await self.usage.task_groups())
        pool = await self._pool()
        capacity = self._capacity(pool)
        return capacity_warnings(projection.calls_per_second, capacity)

    def _projection(self, groups: list[tuple[TaskStatus, TaskGroup]]) -> Projection:
        active = [group for status, group in groups if status is TaskStatus.ACTIVE]
        return project(active, self.settings.tikhub_prices_usd)

    async def _ledger(self, first_day: date, *, task_id: str | None = None) -> UsageCounts:
        try:
            return await ledger_since(
                self.redis, self.keys, self.session, first_day, task_id=task_id
            )
        except RedisError as error:
            # The counts of the last minute are in Redis; MySQL's are still worth showing.
            log.warning("api.usage_redis_unavailable", error=repr(error))
            await self.session.rollback()
            return await ledger_since(None, self.keys, self.session, first_day, task_id=task_id)

    async def _pool(self) -> list[PoolKeyState]:
        """The pool the collectors publish; before any has, the keys in this process's settings."""
        try:
            published = await self.redis.hgetall(self.keys.tikhub_pool)  # type: ignore[misc]
            rates = {name.decode(): float(value) for name, value in published.items()}
            if not rates:
                rate = self.settings.tikhub_rate_limit_per_second
                fingerprints = [key_fingerprint(k) for k in self.settings.tikhub_key_pool()]
                rates = dict.fromkeys(fingerprints, rate)
            states = [await self._key_state(fingerprint) for fingerprint in rates]
        except RedisError as error:
            log.warning("api.usage_redis_unavailable", error=repr(error))
            return []
        return [
            PoolKeyState(fingerprint, state, rate)
            for (fingerprint, rate), state in zip(rates.items(), states, strict=True)
        ]

    def _capacity(self, pool: list[PoolKeyState]) -> float:
        """The pool's calls per second (a rejected key adds nothing); with no pool known (no
        collector has published one, and this process has no keys), one key's."""
        if not pool:
            return self.settings.tikhub_rate_limit_per_second
        return sum(key.rate_per_second for key in pool if key.state != "rejected")

    async def _key_state(self, fingerprint: str) -> KeyState:
        raw = await self.redis.hgetall(self.keys.tikhub_breaker(fingerprint))  # type: ignore[misc]
        fields = {name.decode(): value.decode() for name, value in raw.items()}
        if fields.get("credential") == fingerprint:
            return "rejected"
        if float(fields.get("open_until", 0)) > time.time():
            return "cooling_off"
        return "healthy"

    async def _balance(self, pool: list[PoolKeyState]) -> Balance:
        try:
            raw = [await self.redis.get(self.keys.tikhub_balance(key.fingerprint)) for key in pool]
        except RedisError:
            return Balance()
        # Keys of one account report the same balance: each account is counted once.
        accounts: dict[str, Balance] = {}
        for key, value in zip(pool, raw, strict=True):
            if value is not None:
                account = json.loads(value)
                accounts.setdefault(
                    account.get("account") or key.fingerprint,
                    Balance(
                        balance_usd=account["balance_usd"],
                        free_credit_usd=account["free_credit_usd"],
                        checked_at=datetime.fromisoformat(account["checked_at"]),
                    ),
                )
        if not accounts:
            return Balance()
        free = [a.free_credit_usd for a in accounts.values() if a.free_credit_usd is not None]
        return Balance(
            balance_usd=round(sum(a.balance_usd or 0.0 for a in accounts.values()), USD_DIGITS),
            free_credit_usd=round(sum(free), USD_DIGITS) if free else None,
            # The oldest reading: the figure is as fresh as its stalest part.
            checked_at=min(a.checked_at for a in accounts.values() if a.checked_at),
        )

    async def _budget_skips(self, today: date) -> int:
        try:
            return int(await self.redis.get(self.keys.tikhub_budget_skips(today.isoformat())) or 0)
        except RedisError:
            return 0


def _today(counts: UsageCounts, today: date) -> UsageToday:
    rows = [count for key, count in counts.items() if key.day == today]
    return UsageToday(
        calls=sum(row.calls for row in rows),
        billable_calls=sum(row.billable_calls for row in rows),
        cost_usd=round(usd(sum(row.cost_micro_usd for row in rows)), USD_DIGITS),
    )


def _daily(counts: UsageCounts, today: date) -> list[UsageDay]:
    calls = {today - timedelta(days=n): 0 for n in range(DAYS)}
    cost = dict.fromkeys(calls, 0)
    for key, count in counts.items():
        if key.day in calls:
            calls[key.day] += count.calls
            cost[key.day] += count.cost_micro_usd
    return [
        UsageDay(date=day, calls=calls[day], cost_usd=round(usd(cost[day]), USD_DIGITS))
        for day in calls
    ]


def _keys(pool: list[PoolKeyState], counts: UsageCounts, today: date) -> list[UsageKey]:
    calls: dict[str, int] = {key.fingerprint: 0 for key in pool}
    for key, count in counts.items():
        if key.day == today:
            calls[key.key_fingerprint] = calls.get(key.key_fingerprint, 0) + count.calls
    rates = {key.fingerprint: key for key in pool}
    return [
        UsageKey(
            fingerprint=fingerprint,
            state=rates[fingerprint].state if fingerprint in rates else "retired",
            calls_today=number,
            rate_limit_per_second=(
                rates[fingerprint].rate_per_second if fingerprint in rates else None
            ),
        )
        for fingerprint, number in calls.items()
    ]
