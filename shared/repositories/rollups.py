"""The roll-ups: each task's last counted point per UTC hour and per UTC day, projections of
the history rows that statistics and bucketed history read instead of the rows."""

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects.mysql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import (
    InfluencerDaily,
    InfluencerHourly,
    InfluencerMetricsHistory,
    PostDaily,
    PostHourly,
    PostMetricsHistory,
    Source,
)
from shared.repositories.driver import DriverReads

HistoryModel = type[InfluencerMetricsHistory] | type[PostMetricsHistory]
BucketModel = type[InfluencerHourly] | type[InfluencerDaily] | type[PostHourly] | type[PostDaily]


class Grain(enum.StrEnum):
    """The length of a roll-up's buckets."""

    HOUR = "hour"
    DAY = "day"

    def start(self, moment: datetime) -> datetime:
        """The start of the UTC bucket that holds `moment` (an aware UTC time)."""
        hour = moment.replace(minute=0, second=0, microsecond=0)
        return hour if self is Grain.HOUR else hour.replace(hour=0)

    def sql_start(self, recorded_at: Any) -> ColumnElement[Any]:
        """The same bucket start computed by the database, for rebuilds."""
        if self is Grain.HOUR:
            return func.date_format(recorded_at, literal_column("'%Y-%m-%d %H:00:00'"))
        return func.date(recorded_at)


@dataclass(frozen=True)
class Rollup:
    """One history's roll-ups and the point fields they keep."""

    history: HistoryModel
    buckets: Mapping[Grain, BucketModel]
    fields: tuple[str, ...]


INFLUENCER_ROLLUP = Rollup(
    InfluencerMetricsHistory,
    {Grain.HOUR: InfluencerHourly, Grain.DAY: InfluencerDaily},
    ("follower_count", "following_count", "post_count", "bio"),
)
POST_ROLLUP = Rollup(
    PostMetricsHistory,
    {Grain.HOUR: PostHourly, Grain.DAY: PostDaily},
    ("like_count", "comment_count", "play_count"),
)
ROLLUPS: Mapping[HistoryModel, Rollup] = {
    InfluencerMetricsHistory: INFLUENCER_ROLLUP,
    PostMetricsHistory: POST_ROLLUP,
}


class RollupRepository:
    """Writes and rebuilds of the roll-ups; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, history: HistoryModel, rows: Sequence[Mapping[str, Any]]) -> None:
        """Fold newly stored history rows into their buckets; fallback rows are left out."""
        rollup = ROLLUPS[history]
        counted = [row for row in rows if Source(row["source"]).counts]
        if not counted:
            return
        for grain, model in rollup.buckets.items():
            values = sorted(
                (_bucket_values(rollup, grain, row) for row in counted),
                # Locked in key order, so that two writers' transactions cannot deadlock.
                key=lambda value: (value["task_id"], value["bucket_start"]),
            )
            await self.session.execute(_upsert(model, rollup), values)

    async def buckets_since(
        self, model: BucketModel, task_ids: Sequence[str], field: str, *, since: datetime
    ) -> dict[str, list[dict[str, Any]]]:
        """Several tasks' buckets starting at or after `since`, oldest first, by task id:
        recorded_at and `field`."""
        if not task_ids:
            return {}
        query = (
            select(model.task_id, model.recorded_at, getattr(model, field))
            .where(model.task_id.in_(task_ids), model.bucket_start >= since)
            .order_by(model.task_id, model.bucket_start)
        )
        found: dict[str, list[dict[str, Any]]] = {task_id: [] for task_id in task_ids}
        for task_id, recorded_at, value in await self.session.execute(query):
            found[task_id].append({"recorded_at": recorded_at, field: value})
        return found

    async def rebuild(self, rollup: Rollup, task_id: str) -> None:
        """Recompute a task's buckets from its rows; running it twice changes nothing."""
        history = rollup.history
        for grain, model in rollup.buckets.items():
            table = cast(Table, model.__table__)
            await self.session.execute(delete(table).where(table.c.task_id == task_id))
            bucket = grain.sql_start(history.recorded_at)
            columns = ("task_id", "recorded_at", "source", *rollup.fields)
            ranked = (
                select(
                    bucket.label("bucket_start"),
                    *(getattr(history, name) for name in columns),
                    func.row_number()
                    .over(
                        partition_by=bucket,
                        order_by=(history.recorded_at.desc(), history.id.desc()),
                    )
                    .label("newest"),
                )
                .where(history.task_id == task_id, history.source != Source.FALLBACK)
                .subquery()
            )
            newest = select(*(ranked.c[name] for name in ("bucket_start", *columns)))
            await self.session.execute(
                insert(table).from_select(
                    ["bucket_start", *columns], newest.where(ranked.c.newest == 1)
                )
            )


async def newest_buckets(
    reads: DriverReads, model: BucketModel, task_id: str, fields: Sequence[str], *, limit: int
) -> list[dict[str, Any]]:
    """A task's newest `limit` buckets, newest first: bucket_start and `fields`."""
    names = ("bucket_start", *fields)
    found = await reads.typed_rows(
        _newest_buckets_query(model, tuple(fields)), {"task_id": task_id, "limit": limit}
    )
    return [dict(zip(names, row, strict=True)) for row in found]


@functools.cache
def _newest_buckets_query(model: BucketModel, fields: tuple[str, ...]) -> Select[Any]:
    # Built once per roll-up and fields: every uncached statistics read runs it.
    return (
        select(model.bucket_start, *(getattr(model, name) for name in fields))
        .where(model.task_id == bindparam("task_id"))
        .order_by(model.bucket_start.desc())
        .limit(bindparam("limit"))
    )


def _bucket_values(rollup: Rollup, grain: Grain, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "task_id": row["task_id"],
        "bucket_start": grain.start(row["recorded_at"]),
        "recorded_at": row["recorded_at"],
        "source": row["source"],
        **{name: row.get(name) for name in rollup.fields},
    }


def _upsert(model: BucketModel, rollup: Rollup) -> Any:
    table = cast(Table, model.__table__)
    statement = upsert(table)
    new, old = statement.inserted, table.c
    # The later point of a bucket wins (of one time, the one stored last, as history reads
    # order them). recorded_at is assigned last: MariaDB and MySQL evaluate the assignments in
    # order, each seeing the ones before it.
    assignments: list[tuple[str, Any]] = [
        (name, case((new.recorded_at >= old.recorded_at, new[name]), else_=old[name]))
        for name in ("source", *rollup.fields)
    ]
    assignments.append(("recorded_at", func.greatest(old.recorded_at, new.recorded_at)))
    return statement.on_duplicate_key_update(assignments)
