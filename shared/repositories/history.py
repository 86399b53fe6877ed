"""Writes and reads of the two metric history tables."""

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Insert, Label, Select, Table, bindparam, insert, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import NullType

from shared.models import InfluencerMetricsHistory, PostMetricsHistory

HistoryModel = type[InfluencerMetricsHistory] | type[PostMetricsHistory]


def _as_stored(*columns: InstrumentedAttribute[Any]) -> tuple[Label[Any], ...]:
    # Untyped, a column comes back as the driver reads it: a naive UTC datetime, the enum's
    # stored string; both encode to the same JSON as their typed values would.
    return tuple(type_coerce(column, NullType()).label(column.key) for column in columns)


# The API's point fields, in the API's order.
INFLUENCER_POINT_COLUMNS = _as_stored(
    InfluencerMetricsHistory.follower_count,
    InfluencerMetricsHistory.following_count,
    InfluencerMetricsHistory.post_count,
    InfluencerMetricsHistory.bio,
    InfluencerMetricsHistory.recorded_at,
    InfluencerMetricsHistory.source,
)
POST_POINT_COLUMNS = _as_stored(
    PostMetricsHistory.like_count,
    PostMetricsHistory.comment_count,
    PostMetricsHistory.play_count,
    PostMetricsHistory.recorded_at,
    PostMetricsHistory.source,
)
# recorded_at is stored as naive UTC; the API writes UTC times with a Z.
POINT_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def _insert_ignoring_duplicates(model: HistoryModel) -> Insert:
    # IGNORE turns the duplicate (task_id, scheduled_for) into "0 rows" instead of an error
    # that would abort the caller's unit of work; every value is typed, so nothing else it
    # could silence applies. A Core insert with separate parameters compiles once and skips the
    # ORM's bulk-insert path: a third less CPU on the collector's hot path.
    return insert(cast(Table, model.__table__)).prefix_with("IGNORE")


class HistoryRepository:
    """History queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_influencer_point(self, **values: Any) -> bool:
        """Store a profile's counts for a slot; False when that slot already has a row."""
        return await self._insert_once(InfluencerMetricsHistory, values)

    async def add_post_point(self, **values: Any) -> bool:
        """Store a post's counts for a slot; False when that slot already has a row."""
        return await self._insert_once(PostMetricsHistory, values)

    async def add_influencer_points(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store many slots' profile counts at once; a slot that already has a row keeps it."""
        if rows:
            await self.session.execute(_insert_ignoring_duplicates(InfluencerMetricsHistory), rows)

    async def add_post_points(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store many slots' post counts at once; a slot that already has a row keeps it."""
        if rows:
            await self.session.execute(_insert_ignoring_duplicates(PostMetricsHistory), rows)

    async def influencer_points_json(
        self,
        user_id: int,
        *,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> bytes:
        """A profile's history, newest first, as a JSON array of the API's point objects."""
        return await self._newest_first_json(
            INFLUENCER_POINT_COLUMNS,
            InfluencerMetricsHistory.user_id,
            user_id,
            limit=limit,
            since=since,
            until=until,
        )

    async def post_points_json(
        self,
        post_code: str,
        *,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> bytes:
        """A post's history, newest first, as a JSON array of the API's point objects."""
        return await self._newest_first_json(
            POST_POINT_COLUMNS,
            PostMetricsHistory.post_code,
            post_code,
            limit=limit,
            since=since,
            until=until,
        )

    @staticmethod
    def influencer_points_query(*, since: bool, until: bool) -> Select[Any]:
        """The statement behind influencer_points_json, for a window bounded as said; its
        parameters are `key` (the Instagram id), `limit`, `since` and `until`."""
        return _newest_first(
            INFLUENCER_POINT_COLUMNS, InfluencerMetricsHistory.user_id, since=since, until=until
        )

    async def _insert_once(self, model: HistoryModel, values: dict[str, Any]) -> bool:
        result = await self.session.execute(_insert_ignoring_duplicates(model), values)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _newest_first_json(
        self,
        columns: tuple[Label[Any], ...],
        key: InstrumentedAttribute[Any],
        value: object,
        *,
        limit: int,
        since: datetime | None,
        until: datetime | None,
    ) -> bytes:
        query = _newest_first(columns, key, since=since is not None, until=until is not None)
        parameters = {"key": value, "since": since, "until": until, "limit": limit}
        # Through the session's connection, not the ORM, and straight to JSON: on a 1,000-point
        # read, turning every value into its Python type (aware datetimes, enum members) cost
        # more than the query itself.
        connection = await self.session.connection()
        names = [column.key for column in columns]
        rows = (await connection.execute(query, parameters)).all()
        # Every row has exactly these columns; a strict zip would check that again per row, at
        # a tenth of the read's cost.
        points = [dict(zip(names, row, strict=False)) for row in rows]
        return orjson.dumps(points, option=POINT_JSON_OPTIONS)


@functools.cache
def _newest_first(
    columns: tuple[Label[Any], ...], key: InstrumentedAttribute[Any], *, since: bool, until: bool
) -> Select[Any]:
    # Built once per shape (which bounds the window has) rather than per read: building the
    # statement cost more of the API's CPU than running it.
    model = key.class_
    query = select(*columns).where(key == bindparam("key"))
    if since:
        query = query.where(model.recorded_at >= bindparam("since"))
    if until:
        query = query.where(model.recorded_at <= bindparam("until"))
    return query.order_by(model.recorded_at.desc(), model.id.desc()).limit(bindparam("limit"))
