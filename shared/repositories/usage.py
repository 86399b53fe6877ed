"""Reads and writes of the TikHub usage ledger and the budget days."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.mysql import insert as upsert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import (
    Task,
    TaskStatus,
    TikHubBudgetExceeded,
    TikHubUsage,
    TikHubUsageFlush,
)
from shared.tikhub_usage import TaskGroup


@dataclass(frozen=True, slots=True)
class UsageKey:
    """What one ledger row is about."""

    day: date
    task_id: str
    endpoint: str
    key_fingerprint: str


@dataclass(slots=True)
class UsageCount:
    """Calls, billed calls and their cost (millionths of a dollar)."""

    calls: int = 0
    billable_calls: int = 0
    cost_micro_usd: int = 0

    def add(self, other: "UsageCount") -> None:
        """Add `other` into this count."""
        self.calls += other.calls
        self.billable_calls += other.billable_calls
        self.cost_micro_usd += other.cost_micro_usd


UsageCounts = dict[UsageKey, UsageCount]


class UsageRepository:
    """The ledger's SQL; the caller's unit of work commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_batch(self, batch_id: str, counts: UsageCounts, *, now: datetime) -> bool:
        """Add one flush batch's counts; False (adding nothing) when it was added before."""
        try:
            async with self.session.begin_nested():
                self.session.add(TikHubUsageFlush(batch_id=batch_id, flushed_at=now))
                await self.session.flush()
        except IntegrityError:
            return False
        if counts:
            statement = upsert(TikHubUsage).values(
                [
                    {
                        "day": key.day,
                        "task_id": key.task_id,
                        "endpoint": key.endpoint,
                        "key_fingerprint": key.key_fingerprint,
                        "calls": count.calls,
                        "billable_calls": count.billable_calls,
                        "cost_micro_usd": count.cost_micro_usd,
                    }
                    for key, count in counts.items()
                ]
            )
            new, table = statement.inserted, TikHubUsage
            await self.session.execute(
                statement.on_duplicate_key_update(
                    calls=table.calls + new.calls,
                    billable_calls=table.billable_calls + new.billable_calls,
                    cost_micro_usd=table.cost_micro_usd + new.cost_micro_usd,
                )
            )
        return True

    async def applied_batches(self, batch_ids: Iterable[str]) -> set[str]:
        """Which of these flush batches are already in the ledger."""
        wanted = list(batch_ids)
        if not wanted:
            return set()
        query = select(TikHubUsageFlush.batch_id).where(TikHubUsageFlush.batch_id.in_(wanted))
        return set(await self.session.scalars(query))

    async def forget_batches_before(self, moment: datetime) -> None:
        """Drop the record of batches flushed before `moment` (their Redis copies are long gone)."""
        await self.session.execute(
            delete(TikHubUsageFlush).where(TikHubUsageFlush.flushed_at < moment)
        )

    async def counts_since(self, first_day: date, *, task_id: str | None = None) -> UsageCounts:
        """Every ledger row from `first_day` on (of one task, when given)."""
        query = select(TikHubUsage).where(TikHubUsage.day >= first_day)
        if task_id is not None:
            query = query.where(TikHubUsage.task_id == task_id)
        return {
            UsageKey(row.day, row.task_id, row.endpoint, row.key_fingerprint): UsageCount(
                row.calls, row.billable_calls, row.cost_micro_usd
            )
            for row in await self.session.scalars(query)
        }

    async def mark_budget_exceeded(self, day: date, *, now: datetime) -> bool:
        """Note that `day`'s budget was reached; True only for the first caller of that day."""
        statement = (
            upsert(TikHubBudgetExceeded).values(day=day, exceeded_at=now).prefix_with("IGNORE")
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def budget_exceeded_at(self, day: date) -> datetime | None:
        """When `day`'s budget was first reached, if it was."""
        row = await self.session.get(TikHubBudgetExceeded, day)
        return None if row is None else row.exceeded_at

    async def task_groups(self) -> list[tuple[TaskStatus, TaskGroup]]:
        """Every task, grouped by status, kind, interval and track_posts."""
        columns = (Task.status, Task.task_type, Task.interval_seconds, Task.track_posts)
        rows = await self.session.execute(select(*columns, func.count()).group_by(*columns))
        return [
            (status, TaskGroup(kind, interval, track_posts, count))
            for status, kind, interval, track_posts, count in rows
        ]
