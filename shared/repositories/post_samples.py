"""Writes and reads of the samples of creators' recent posts (`post_sample`, its items)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects.mysql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import PostSample, PostSampleItem


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """What one slot's sample stores: the sample, and its posts in feed order (none when it
    failed)."""

    sample: Mapping[str, Any]
    items: Sequence[Mapping[str, Any]]


class PostSampleRepository:
    """Sample queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, records: Sequence[SampleRecord]) -> None:
        """Store the samples; a slot that already has one keeps it (stored once, first wins)."""
        if not records:
            return
        await self._insert_once(PostSample, [record.sample for record in records])
        await self._insert_once(
            PostSampleItem, [item for record in records for item in record.items]
        )

    async def last_slot(self, task_id: str) -> datetime | None:
        """The slot of the task's newest sample, failed ones included."""
        return await self.session.scalar(
            select(func.max(PostSample.scheduled_for)).where(PostSample.task_id == task_id)
        )

    async def latest_good(self, task_id: str) -> tuple[PostSample, list[PostSampleItem]] | None:
        """The task's newest sample that read the posts, and its posts in feed order."""
        sample = await self.session.scalar(
            select(PostSample)
            .where(PostSample.task_id == task_id, PostSample.error.is_(None))
            .order_by(PostSample.scheduled_for.desc())
            .limit(1)
        )
        if sample is None:
            return None
        items = await self.session.scalars(
            select(PostSampleItem)
            .where(
                PostSampleItem.task_id == task_id,
                PostSampleItem.scheduled_for == sample.scheduled_for,
            )
            .order_by(PostSampleItem.position)
        )
        return sample, list(items)

    async def _insert_once(
        self, model: type[PostSample] | type[PostSampleItem], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if not rows:
            return
        table = cast(Table, model.__table__)
        # A duplicate key (a slot run again after its commit) keeps the stored row as it is.
        statement = upsert(table).on_duplicate_key_update(task_id=table.c.task_id)
        await self.session.execute(statement, rows)
