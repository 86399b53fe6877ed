"""History pages: every target's history kept a second time, already rendered as the API's JSON.

A history read of 1,000 points used to fetch 1,000 rows, and MySQL's work on them alone (1.4 ms
of CPU) was more than a whole read may cost. The pages keep the same points in runs of about
PAGE_POINTS, each a ready JSON fragment, so such a read fetches about ten rows and joins their
bytes. The history tables stay the record; the pages are written in the same transaction as
the rows they repeat (see HistoryRepository), so the two never disagree.

Each target has one growing page, the head (numbered HEAD_PAGE). Points are put in front of it
as they come; when it holds PAGE_POINTS, the next newer point seals it (it takes the next
sequence number, 1, 2, …) and starts a new head. A point older than the head (a late job)
goes to the page whose time it falls in, so pages never overlap in time and their numbers
follow time; a page that got a point out of order is marked unsorted, and sorted when read.
"""

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, func, literal_column, or_, select, update
from sqlalchemy.dialects.mysql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.models import HistoryPage, InfluencerHistoryPage, PostHistoryPage

# Points per sealed page: a 1,000-point read fetches eleven rows at most, and each collection
# rewrites a head of at most this many points.
PAGE_POINTS = 100
# The head's number: above every sequence number a target's pages will ever reach.
HEAD_PAGE = 2**32 - 1
# recorded_at is a UTC datetime (naive when it comes straight from the database); the API
# writes UTC times with a Z.
POINT_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


@dataclass(frozen=True)
class PageKind:
    """One of the two histories: its page table, the column naming the target, the points'
    fields in the API's order."""

    model: type[HistoryPage]
    key: str
    fields: tuple[str, ...]

    @property
    def key_column(self) -> InstrumentedAttribute[Any]:
        column: InstrumentedAttribute[Any] = getattr(self.model, self.key)
        return column


INFLUENCER_PAGES = PageKind(
    InfluencerHistoryPage,
    "user_id",
    ("follower_count", "following_count", "post_count", "bio", "recorded_at", "source"),
)
POST_PAGES = PageKind(
    PostHistoryPage,
    "post_code",
    ("like_count", "comment_count", "play_count", "recorded_at", "source"),
)


def encode_point(kind: PageKind, row: Mapping[str, Any]) -> bytes:
    """One point of a history row, as the API writes it (a value left out is stored as NULL)."""
    point = {field: row.get(field) for field in kind.fields}
    recorded_at = row["recorded_at"]
    if recorded_at.tzinfo is not None:  # stored as UTC, whatever zone it was given in
        point["recorded_at"] = recorded_at.astimezone(UTC)
    return orjson.dumps(point, option=POINT_JSON_OPTIONS)


def page_values(
    kind: PageKind, key: object, page_no: int, oldest_first: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The columns of a page holding these points (history rows sorted by time), as inserted;
    on an existing page, the ones _add_points puts in front of it."""
    return {
        kind.key: key,
        "page_no": page_no,
        "points": len(oldest_first),
        "newest_at": oldest_first[-1]["recorded_at"],
        "oldest_at": oldest_first[0]["recorded_at"],
        "unsorted": False,
        "body": b",".join(encode_point(kind, row) for row in reversed(oldest_first)),
    }


@dataclass(frozen=True, slots=True)
class Head:
    """What a writer needs to know of a target's head page."""

    points: int
    newest_at: datetime
    oldest_at: datetime


class HistoryPages:
    """Keeps one kind's pages in step with its history rows; reads them back as JSON."""

    def __init__(self, session: AsyncSession, kind: PageKind) -> None:
        self.session = session
        self.kind = kind

    async def lock_heads(self, keys: Iterable[Any]) -> dict[Any, Head]:
        """The heads of these targets, locked until the transaction ends: writers of one
        target take turns, so each sees the pages as the one before left them."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        rows = await self.session.execute(_heads_for_update(self.kind), {"keys": keys})
        return {key: Head(points, newest, oldest) for key, points, newest, oldest in rows}

    async def add(self, heads: Mapping[Any, Head], rows: Sequence[Mapping[str, Any]]) -> None:
        """Put newly stored history rows on their targets' pages (heads from lock_heads)."""
        by_target: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            if row[self.kind.key] is not None:  # a profile whose id is unknown is not readable
                by_target[row[self.kind.key]].append(row)
        additions: list[dict[str, Any]] = []
        for key in sorted(by_target):
            points = sorted(by_target[key], key=lambda row: row["recorded_at"])
            head = heads.get(key)
            if head is None:
                additions.append(page_values(self.kind, key, HEAD_PAGE, points))
                continue
            late = [row for row in points if row["recorded_at"] < head.oldest_at]
            current = points[len(late) :]
            for page_no, page_points in (await self._pages_of_late(key, late)).items():
                additions.append(page_values(self.kind, key, page_no, page_points))
            if not current:
                continue
            # A full head is sealed when newer points come, unless a late point of this batch
            # is bound for it (it will be sealed by the next point instead).
            full = head.points >= PAGE_POINTS and not late
            if full and current[0]["recorded_at"] >= head.newest_at:
                await self._seal_head(key)
            additions.append(page_values(self.kind, key, HEAD_PAGE, current))
        if additions:
            await self.session.execute(_add_points(self.kind), additions)

    async def points_json(
        self, key: object, *, limit: int, since: datetime | None, until: datetime | None
    ) -> bytes:
        """The target's newest `limit` points within [since, until], newest first, as a JSON
        array of the API's point objects."""
        query = pages_newest_first(self.kind, since=since is not None, until=until is not None)
        rows = await self.session.execute(
            query, {"key": key, "since": since, "until": until, "pages": pages_for(limit)}
        )
        return join_pages(rows, limit=limit, since=since, until=until)

    async def _pages_of_late(
        self, key: object, late: Sequence[Mapping[str, Any]]
    ) -> dict[int, list[Mapping[str, Any]]]:
        """Which page each point older than the head belongs on: the newest page that starts
        no later than it, else the oldest page (which then starts with it)."""
        model = self.kind.model
        pages: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
        of_target = select(model.page_no).where(self.kind.key_column == key)
        for row in late:
            page_no = await self.session.scalar(
                of_target.where(model.oldest_at <= row["recorded_at"])
                .order_by(model.page_no.desc())
                .limit(1)
            )
            if page_no is None:
                page_no = await self.session.scalar(of_target.order_by(model.page_no).limit(1))
                assert page_no is not None, "a target with a head has a page"
            pages[page_no].append(row)
        return pages

    async def _seal_head(self, key: object) -> None:
        """Give the full head the next sequence number (sorting it if it must), leaving the
        target without a head until the caller adds one."""
        model = self.kind.model
        of_target = self.kind.key_column == key
        last = await self.session.scalar(
            select(func.max(model.page_no)).where(of_target, model.page_no < HEAD_PAGE)
        )
        head = (model.page_no == HEAD_PAGE) & of_target
        unsorted_body = await self.session.scalar(select(model.body).where(head, model.unsorted))
        values: dict[str, Any] = {"page_no": (last or 0) + 1}
        if unsorted_body is not None:
            sorted_points = _points_within(unsorted_body, unsorted=True, since=None, until=None)
            values.update(unsorted=False, body=orjson.dumps(sorted_points)[1:-1])
        await self.session.execute(update(model).where(head).values(values))


PageRow = tuple[int, datetime, datetime, bool, bytes]


def join_pages(
    newest_first: Iterable[PageRow],
    *,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> bytes:
    """The JSON array of the newest `limit` points within [since, until] on these pages (rows of
    pages_newest_first). A page read whole costs a copy of its bytes; only a page cut by the
    window or the limit, or unsorted, is parsed."""
    parts: list[bytes] = []
    wanted = limit
    for points, newest_at, oldest_at, unsorted, body in newest_first:
        whole = (
            not unsorted
            and points <= wanted
            and (since is None or oldest_at >= since)
            and (until is None or newest_at <= until)
        )
        if whole:
            parts.append(body)
            wanted -= points
        else:
            chosen = _points_within(body, unsorted=unsorted, since=since, until=until)[:wanted]
            if chosen:
                parts.append(orjson.dumps(chosen)[1:-1])
                wanted -= len(chosen)
        if not wanted:
            break
    return b"[" + b",".join(parts) + b"]"


def pages_for(limit: int) -> int:
    """How many pages a read of `limit` points needs at most."""
    # Every page but the head holds PAGE_POINTS or more, and only the first and the last page
    # of a window can hold points outside it.
    return -(-limit // PAGE_POINTS) + 2


@functools.cache
def _heads_for_update(kind: PageKind) -> Select[Any, int, datetime, datetime]:
    # Built once: the collector locks heads in every batch it writes.
    model = kind.model
    return (
        select(kind.key_column, model.points, model.newest_at, model.oldest_at)
        .where(kind.key_column.in_(bindparam("keys", expanding=True)), model.page_no == HEAD_PAGE)
        .with_for_update()
    )


@functools.cache
def _add_points(kind: PageKind) -> Any:
    # One statement for all of a batch's pages: a new page is inserted; on an existing one the
    # points go in front. MySQL applies the assignments in order, each seeing the ones before,
    # so `unsorted` must compare with the page's newest_at before that is moved.
    model = kind.model
    statement = insert(model)
    new = statement.inserted
    return statement.on_duplicate_key_update(
        [
            ("unsorted", or_(model.unsorted, new.oldest_at < model.newest_at)),
            # A literal, not a parameter: the driver sends an executemany as one multi-row
            # INSERT, repeating the VALUES part, and a parameter after it would break that.
            ("body", func.concat(new.body, literal_column("','"), model.body)),
            ("points", model.points + new.points),
            ("newest_at", func.greatest(model.newest_at, new.newest_at)),
            ("oldest_at", func.least(model.oldest_at, new.oldest_at)),
        ]
    )


@functools.cache
def pages_newest_first(
    kind: PageKind, *, since: bool, until: bool
) -> Select[int, datetime, datetime, bool, bytes]:
    """The pages a window of a target's history needs, newest first; its parameters are
    `key` (the target), `pages` (how many at most), `since` and `until`."""
    # Built once per shape of window: the API runs it on every read that misses the cache.
    model = kind.model
    query = select(model.points, model.newest_at, model.oldest_at, model.unsorted, model.body)
    query = query.where(kind.key_column == bindparam("key"))
    if since:
        query = query.where(model.newest_at >= bindparam("since"))
    if until:
        query = query.where(model.oldest_at <= bindparam("until"))
    return query.order_by(model.page_no.desc()).limit(bindparam("pages"))


def _points_within(
    body: bytes, *, unsorted: bool, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    """A page's points within [since, until], newest first."""
    points: list[dict[str, Any]] = orjson.loads(b"[" + body + b"]")
    if unsorted:
        # Stable: points of the same time stay newest-stored first, as they were put.
        points.sort(key=_recorded_at, reverse=True)
    if since is None and until is None:
        return points
    return [
        point
        for point in points
        if (since is None or _recorded_at(point) >= since)
        and (until is None or _recorded_at(point) <= until)
    ]


def _recorded_at(point: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(point["recorded_at"])
