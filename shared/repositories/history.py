"""Writes and reads of the two metric history tables, the only record of collected points."""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    column,
    insert,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import InfluencerMetricsHistory, PostMetricsHistory, Source
from shared.point_events import after_points
from shared.repositories.rollups import ROLLUPS, Grain, HistoryModel, RollupRepository

# recorded_at comes back naive (read without the models' type, see HistoryKind); it is UTC, and
# the API writes UTC times with a Z.
POINT_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


@dataclass(frozen=True)
class HistoryKind:
    """One of the two histories as reads see it: the points' fields in the API's order, on a
    plain table of the same name, so rows come back as the driver's tuples with no type
    processing per value (the API encodes them straight to JSON)."""

    model: HistoryModel
    fields: tuple[str, ...]

    @functools.cached_property
    def table(self) -> Any:
        return _plain_table(self.model.__tablename__, ("task_id", *self.fields, "id"))

    @functools.cached_property
    def bucket_tables(self) -> Mapping[Grain, Any]:
        """The roll-ups as plain tables: the same point fields, and bucket_start."""
        return {
            grain: _plain_table(model.__tablename__, ("task_id", *self.fields, "bucket_start"))
            for grain, model in ROLLUPS[self.model].buckets.items()
        }


def _plain_table(name: str, names: Sequence[str]) -> Any:
    types = {"recorded_at": mysql.DATETIME(fsp=6), "bucket_start": mysql.DATETIME(fsp=6)}
    return table(name, *(column(name, types.get(name)) for name in names))


INFLUENCER_HISTORY = HistoryKind(
    InfluencerMetricsHistory,
    ("follower_count", "following_count", "post_count", "bio", "recorded_at", "source"),
)
POST_HISTORY = HistoryKind(
    PostMetricsHistory, ("like_count", "comment_count", "play_count", "recorded_at", "source")
)

# Which of some (task, slot) pairs have a row; built once, as every write asks.
_SLOTS_TAKEN = {
    model: select(model.task_id, model.scheduled_for).where(
        tuple_(model.task_id, model.scheduled_for).in_(bindparam("slots", expanding=True))
    )
    for model in (InfluencerMetricsHistory, PostMetricsHistory)
}


class HistoryRepository:
    """History queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_influencer_point(self, **values: Any) -> bool:
        """Store a profile's counts for a slot; False when that slot already has a row."""
        return bool(await self._add(InfluencerMetricsHistory, [values]))

    async def add_post_point(self, **values: Any) -> bool:
        """Store a post's counts for a slot; False when that slot already has a row."""
        return bool(await self._add(PostMetricsHistory, [values]))

    async def add_influencer_points(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store many slots' profile counts at once; a slot that already has a row keeps it."""
        await self._add(InfluencerMetricsHistory, rows)

    async def add_post_points(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store many slots' post counts at once; a slot that already has a row keeps it."""
        await self._add(PostMetricsHistory, rows)

    async def points_json(
        self,
        kind: HistoryKind,
        task_id: str,
        *,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
        grain: Grain | None = None,
    ) -> bytes:
        """A task's newest `limit` points within [since, until], newest first (of one time, the
        last stored first), as a JSON array of the API's point objects.

        With a `grain`, the last counted point of each of the newest `limit` buckets that
        overlap [since, until], from the roll-up.
        """
        query = newest_points_query(
            kind, since=since is not None, until=until is not None, grain=grain
        )
        parameters: dict[str, Any] = {"task_id": task_id, "limit": limit}
        if since is not None:
            # The bucket that holds `since` overlaps the window.
            parameters["since"] = _naive_utc(since if grain is None else grain.start(since))
        if until is not None:
            parameters["until"] = _naive_utc(until)
        rows = (await self.session.execute(query, parameters)).all()
        fields = kind.fields
        # Each row holds exactly the selected fields: no length check per row.
        points = [dict(zip(fields, row, strict=False)) for row in rows]
        return orjson.dumps(points, option=POINT_JSON_OPTIONS)

    async def newest_counted_point(
        self,
        model: HistoryModel,
        task_id: str,
        fields: Sequence[str],
        *,
        at_or_before: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The task's last counted (not fallback) point, of one time the last stored, recorded
        at or before `at_or_before` when given: its `fields` and recorded_at."""
        # One seek down the primary key (task_id, recorded_at, id): no scan of the rows.
        query = select(*(getattr(model, name) for name in fields), model.recorded_at).where(
            model.task_id == task_id, model.source != Source.FALLBACK
        )
        if at_or_before is not None:
            query = query.where(model.recorded_at <= at_or_before)
        query = query.order_by(model.recorded_at.desc(), model.id.desc()).limit(1)
        row = (await self.session.execute(query)).first()
        return None if row is None else dict(row._mapping)

    async def _add(self, model: HistoryModel, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store the rows of slots that have none yet; return how many were stored."""
        if not rows:
            return 0
        taken = await self._slots_taken(model, rows)
        new: list[Mapping[str, Any]] = []
        for row in rows:
            slot = (row["task_id"], row["scheduled_for"])
            if slot not in taken:
                taken.add(slot)
                new.append(row)
        if new:
            # A plain insert: a row that a concurrent writer stored after the check above is a
            # duplicate-key error, and the caller's retry then finds it.
            await self.session.execute(insert(cast(Table, model.__table__)), new)
            # In the same transaction as the rows: the roll-ups never hold a point the rows lack,
            # and an alert or milestone event exists exactly when its point does.
            await RollupRepository(self.session).record(model, new)
            await after_points(self, model, new)
        return len(new)

    async def tasks_with_later_counted_points(
        self, model: HistoryModel, times: Mapping[str, datetime]
    ) -> set[str]:
        """Which of the tasks have a counted point recorded after their time in `times`."""
        # A range of the primary key per task, from its time on: empty, and so instant, for
        # a point just collected.
        later = or_(
            *(
                and_(model.task_id == task_id, model.recorded_at > at)
                for task_id, at in times.items()
            )
        )
        found = await self.session.scalars(
            select(model.task_id).distinct().where(later, model.source != Source.FALLBACK)
        )
        return set(found)

    async def _slots_taken(
        self, model: HistoryModel, rows: Sequence[Mapping[str, Any]]
    ) -> set[tuple[str, datetime]]:
        """Which of the rows' (task, slot) pairs already have a row."""
        slots = [(row["task_id"], row["scheduled_for"]) for row in rows]
        found = await self.session.execute(_SLOTS_TAKEN[model], {"slots": slots})
        return {(task_id, scheduled_for) for task_id, scheduled_for in found}


@functools.cache
def newest_points_query(
    kind: HistoryKind, *, since: bool, until: bool, grain: Grain | None = None
) -> Select[Any]:
    # Built once per shape of window: the API runs it on every read that misses the cache. It
    # walks the primary key backwards from the window's end: (task_id, recorded_at, id) of the
    # rows, or (task_id, bucket_start) of a roll-up.
    source = kind.table if grain is None else kind.bucket_tables[grain]
    time = source.c.recorded_at if grain is None else source.c.bucket_start
    # Of one time, the row stored last; a bucket has one time only.
    order = [time.desc()] if grain is not None else [time.desc(), source.c.id.desc()]
    query = select(*(source.c[field] for field in kind.fields))
    query = query.where(source.c.task_id == bindparam("task_id"))
    if since:
        query = query.where(time >= bindparam("since"))
    if until:
        query = query.where(time <= bindparam("until"))
    return query.order_by(*order).limit(bindparam("limit"))


def _naive_utc(moment: datetime) -> datetime:
    # The plain table's DATETIME binds as the driver does: a naive value, read as UTC.
    return moment.astimezone(UTC).replace(tzinfo=None)
