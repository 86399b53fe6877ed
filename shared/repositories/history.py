"""Writes and reads of the two metric history tables, the only record of collected points."""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import InfluencerMetricsHistory, PostMetricsHistory, Source
from shared.point_events import after_points
from shared.repositories.driver import DriverReads
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
    def export_fields(self) -> tuple[str, ...]:
        """The fields of an exported point: its time first, then the rest in the API's order."""
        return ("recorded_at", *(name for name in self.fields if name != "recorded_at"))

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

    async def reads(self) -> "HistoryReads":
        """The driver's reads, on the session's connection and in its transaction."""
        return HistoryReads(await DriverReads.of_session(self.session))

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

    async def oldest_points_after(
        self,
        kind: HistoryKind,
        task_id: str,
        *,
        after: "PointKey | None",
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
        grain: Grain | None = None,
    ) -> tuple[list[Sequence[Any]], "PointKey | None"]:
        """One page of a task's points within [since, until], oldest first (of one time, the
        first stored first), after `after`: the rows (`kind.export_fields`, recorded_at as the
        API writes times, then the page key's column) and the key to ask for the next page
        with (None after the last page). With a `grain`, buckets as in `points_json`."""
        query = oldest_points_query(
            kind,
            since=since is not None,
            until=until is not None,
            grain=grain,
            after=after is not None,
        )
        parameters = _window_parameters(task_id, limit, since, until, grain)
        if after is not None:
            parameters.update(zip(("after_time", "after_id"), after, strict=False))
        rows = list((await self.session.execute(query, parameters)).all())
        if len(rows) < limit:
            return rows, None
        last = rows[-1]
        if grain is not None:
            return rows, (last[-1],)
        return rows, (datetime.fromisoformat(last[0].removesuffix("Z")), last[-1])

    async def add_imported_points(
        self, model: HistoryModel, task_id: str, rows: Sequence[Mapping[str, Any]]
    ) -> int:
        """Store imported points (of one task, distinct times) whose time has no point yet, and
        fold them into the roll-ups; return how many were stored.

        A concurrent import storing the same time makes the insert fail on the unique key of
        imported times: the caller retries, and the check then finds that point.
        """
        if not rows:
            return 0
        found = await self.session.scalars(
            select(model.recorded_at).where(
                model.task_id == task_id,
                model.recorded_at.in_([row["recorded_at"] for row in rows]),
            )
        )
        taken = set(found)
        new = [row for row in rows if row["recorded_at"] not in taken]
        if new:
            await self.session.execute(insert(cast(Table, model.__table__)), new)
            await RollupRepository(self.session).record(model, new)
        return len(new)

    async def counted_values_at(
        self, model: HistoryModel, field: str, moments: Mapping[str, datetime]
    ) -> dict[str, Any]:
        """For each task id, `field` of its last counted point at or before its moment (None
        when it has none that old), in one statement."""
        if not moments:
            return {}
        asked = union_all(
            *(
                select(
                    literal(task_id).label("task_id"),
                    literal(moment, model.recorded_at.type).label("moment"),
                )
                for task_id, moment in moments.items()
            )
        ).subquery()
        # Per task, one look down the primary key from its moment.
        value = (
            select(getattr(model, field))
            .where(
                model.task_id == asked.c.task_id,
                model.source != Source.FALLBACK,
                model.recorded_at <= asked.c.moment,
            )
            .order_by(model.recorded_at.desc(), model.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        found = await self.session.execute(select(asked.c.task_id, value))
        answers: dict[str, Any] = {task_id: None for task_id in moments}
        answers.update({task_id: then for task_id, then in found})
        return answers

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
    ) -> set[tuple[str, datetime | None]]:
        """Which of the rows' (task, slot) pairs already have a row."""
        slots = [(row["task_id"], row["scheduled_for"]) for row in rows]
        found = await self.session.execute(_SLOTS_TAKEN[model], {"slots": slots})
        return {(task_id, scheduled_for) for task_id, scheduled_for in found}


class HistoryReads:
    """History reads run by the driver itself (see DriverReads): what the API answers from on
    every request that misses its cache, and what alerts compare."""

    def __init__(self, reads: DriverReads) -> None:
        self.reads = reads

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

        With a `grain`, the last counted point of each of the newest `limit` buckets that overlap
        [since, until], from the roll-up. The driver fetches the rows: SQLAlchemy's execution and
        Row objects cost more than the driver's whole read of 1,000 points.
        """
        query = newest_points_query(
            kind, since=since is not None, until=until is not None, grain=grain
        )
        parameters = _window_parameters(task_id, limit, since, until, grain)
        rows = await self.reads.rows(query, parameters)
        fields = kind.fields
        # Each row holds exactly the selected fields. zip's strict= keyword would double the cost
        # of building these dicts, the largest part of a long read's CPU.
        points = [dict(zip(fields, row)) for row in rows]  # noqa: B905
        return orjson.dumps(points, option=POINT_JSON_OPTIONS)

    async def counted_points_back(
        self,
        model: HistoryModel,
        task_id: str,
        fields: Sequence[str],
        windows: Sequence[timedelta] = (),
    ) -> list[dict[str, Any] | None]:
        """The task's last counted (not fallback) point, then for each window the last counted
        point recorded at or before that point's time minus the window (None where there is none;
        of one time, the last stored): their `fields` and recorded_at (aware UTC).

        Two round trips at most, each part of them one seek down the primary key (task_id,
        recorded_at, id), so the answer costs the same at any history length. (The windows' times
        are sent as values: derived from the latest point within the statement, MariaDB would
        check every newer row against them instead of seeking.)
        """
        names = (*fields, "recorded_at")
        query = _counted_points_query(model, tuple(fields), 0)
        found: dict[int, dict[str, Any]] = {}
        # Each row: the fields, recorded_at, and which part of the question it answers.
        for *values, part in await self.reads.typed_rows(query, {"task_id": task_id}):
            found[part] = dict(zip(names, values, strict=True))
        if not found:
            return [None] * (len(windows) + 1)
        if windows:
            query = _counted_points_query(model, tuple(fields), len(windows))
            parameters: dict[str, Any] = {"task_id": task_id}
            latest_time = found[0]["recorded_at"]
            for part, window in enumerate(windows, start=1):
                parameters[f"before_{part}"] = _naive_utc(latest_time - window)
            for *values, part in await self.reads.typed_rows(query, parameters):
                found[part] = dict(zip(names, values, strict=True))
        return [found.get(part) for part in range(len(windows) + 1)]


# Where an oldest-first page starts: after the row of this (recorded_at, id), or after the
# bucket of this (bucket_start,).
PointKey = tuple[Any, ...]


@functools.cache
def newest_points_query(
    kind: HistoryKind, *, since: bool, until: bool, grain: Grain | None = None
) -> Select[Any]:
    # Built once per shape of window: the API runs it on every read that misses the cache. It
    # walks the primary key backwards from the window's end.
    source, time, keys = _window_source(kind, grain)
    query = _in_window(select(*(source.c[field] for field in kind.fields)), time, since, until)
    return query.order_by(*(key.desc() for key in keys)).limit(bindparam("limit"))


@functools.cache
def oldest_points_query(
    kind: HistoryKind, *, since: bool, until: bool, grain: Grain | None, after: bool
) -> Select[Any]:
    # Keyset paging: each page is one forward range of the primary key from the last page's
    # key, however far into the history it is (an OFFSET would walk every row before it).
    source, time, keys = _window_source(kind, grain)
    columns = [
        _api_time(source.c.recorded_at) if field == "recorded_at" else source.c[field]
        for field in kind.export_fields
    ]
    query = _in_window(select(*columns, keys[-1]), time, since, until)
    if after:
        after_time: Any = bindparam("after_time")
        query = query.where(
            time > after_time
            if grain is not None
            else or_(time > after_time, and_(time == after_time, keys[-1] > bindparam("after_id")))
        )
    return query.order_by(*keys).limit(bindparam("limit"))


def _api_time(moment: Any) -> Any:
    # Written by MySQL as the API writes times (orjson's ISO 8601 with a Z, the fraction only
    # when there is one): an export renders a million of them, and reading them as text skips
    # a datetime per point in the driver and another format call here.
    fraction = func.if_(func.microsecond(moment) == 0, "", func.date_format(moment, ".%f"))
    return func.concat(func.date_format(moment, "%Y-%m-%dT%H:%i:%s"), fraction, "Z")


def _window_source(kind: HistoryKind, grain: Grain | None) -> tuple[Any, Any, list[Any]]:
    """The table a view reads, its time column, and its primary key after task_id:
    (recorded_at, id) of the rows, or (bucket_start) of a roll-up (a bucket has one time)."""
    if grain is None:
        return kind.table, kind.table.c.recorded_at, [kind.table.c.recorded_at, kind.table.c.id]
    source = kind.bucket_tables[grain]
    return source, source.c.bucket_start, [source.c.bucket_start]


def _in_window(query: Select[Any], time: Any, since: bool, until: bool) -> Select[Any]:
    query = query.where(time.table.c.task_id == bindparam("task_id"))
    if since:
        query = query.where(time >= bindparam("since"))
    if until:
        query = query.where(time <= bindparam("until"))
    return query


def _window_parameters(
    task_id: str, limit: int, since: datetime | None, until: datetime | None, grain: Grain | None
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"task_id": task_id, "limit": limit}
    if since is not None:
        # The bucket that holds `since` overlaps the window.
        parameters["since"] = _naive_utc(since if grain is None else grain.start(since))
    if until is not None:
        parameters["until"] = _naive_utc(until)
    return parameters


@functools.cache
def _counted_points_query(model: HistoryModel, fields: tuple[str, ...], windows: int) -> Any:
    # Without windows, the latest counted point; with n, the newest counted point at or before
    # each of before_1 … before_n, tagged with its part number.
    def newest_counted(part: int) -> Select[Any]:
        return (
            select(
                *(getattr(model, name) for name in fields),
                model.recorded_at,
                literal_column(str(part)).label("part"),
            )
            .where(model.task_id == bindparam("task_id"), model.source != Source.FALLBACK)
            .order_by(model.recorded_at.desc(), model.id.desc())
            .limit(1)
        )

    if not windows:
        return newest_counted(0)
    return union_all(
        *(
            newest_counted(part).where(model.recorded_at <= bindparam(f"before_{part}"))
            for part in range(1, windows + 1)
        )
    )


def _naive_utc(moment: datetime) -> datetime:
    # The plain table's DATETIME binds as the driver does: a naive value, read as UTC.
    return moment.astimezone(UTC).replace(tzinfo=None)
