"""Writes and reads of the two metric history tables."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import InfluencerMetricsHistory, PostMetricsHistory
from shared.repositories.history_pages import INFLUENCER_PAGES, POST_PAGES, HistoryPages, PageKind

HistoryModel = type[InfluencerMetricsHistory] | type[PostMetricsHistory]

# Which of some (task, slot) pairs have a row; built once, as every write asks.
_SLOTS_TAKEN = {
    model: select(model.task_id, model.scheduled_for).where(
        tuple_(model.task_id, model.scheduled_for).in_(bindparam("slots", expanding=True))
    )
    for model in (InfluencerMetricsHistory, PostMetricsHistory)
}


class HistoryRepository:
    """History queries; the caller commits.

    Every write also puts the new points on the target's history pages, and every read comes
    from those pages (see history_pages): the rows are the record, the pages what reads fetch.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_influencer_point(self, **values: Any) -> bool:
        """Store a profile's counts for a slot; False when that slot already has a row."""
        return bool(await self._add(InfluencerMetricsHistory, INFLUENCER_PAGES, [values]))

    async def add_post_point(self, **values: Any) -> bool:
        """Store a post's counts for a slot; False when that slot already has a row."""
        return bool(await self._add(PostMetricsHistory, POST_PAGES, [values]))

    async def add_influencer_points(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store many slots' profile counts at once; a slot that already has a row keeps it."""
        await self._add(InfluencerMetricsHistory, INFLUENCER_PAGES, rows)

    async def add_post_points(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store many slots' post counts at once; a slot that already has a row keeps it."""
        await self._add(PostMetricsHistory, POST_PAGES, rows)

    async def influencer_points_json(
        self,
        user_id: int,
        *,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> bytes:
        """A profile's history, newest first, as a JSON array of the API's point objects."""
        pages = HistoryPages(self.session, INFLUENCER_PAGES)
        return await pages.points_json(user_id, limit=limit, since=since, until=until)

    async def post_points_json(
        self,
        post_code: str,
        *,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> bytes:
        """A post's history, newest first, as a JSON array of the API's point objects."""
        pages = HistoryPages(self.session, POST_PAGES)
        return await pages.points_json(post_code, limit=limit, since=since, until=until)

    async def _add(
        self, model: HistoryModel, kind: PageKind, rows: Sequence[Mapping[str, Any]]
    ) -> int:
        """Store the rows of slots that have none yet, and put them on their pages; return
        how many were stored."""
        if not rows:
            return 0
        pages = HistoryPages(self.session, kind)
        # Locked first: a second writer of the same target waits here, and then finds the
        # slots this one stores below.
        heads = await pages.lock_heads(row[kind.key] for row in rows if row[kind.key] is not None)
        taken = await self._slots_taken(model, rows)
        new: list[Mapping[str, Any]] = []
        for row in rows:
            slot = (row["task_id"], row["scheduled_for"])
            if slot not in taken:
                taken.add(slot)
                new.append(row)
        if new:
            # A plain insert: a row that a concurrent writer stored after the check above is a
            # duplicate-key error, and the caller's retry then finds it, instead of the pages
            # getting a point the history did not.
            await self.session.execute(insert(cast(Table, model.__table__)), new)
            await pages.add(heads, new)
        return len(new)

    async def _slots_taken(
        self, model: HistoryModel, rows: Sequence[Mapping[str, Any]]
    ) -> set[tuple[str, datetime]]:
        """Which of the rows' (task, slot) pairs already have a row."""
        slots = [(row["task_id"], row["scheduled_for"]) for row in rows]
        found = await self.session.execute(_SLOTS_TAKEN[model], {"slots": slots})
        return {(task_id, scheduled_for) for task_id, scheduled_for in found}
