"""History pages against the real database: whatever order points arrive in, a read from the
pages is byte for byte what the history rows themselves say."""

import asyncio
import itertools
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import create_engine, create_session_factory
from shared.models import InfluencerHistoryPage, InfluencerMetricsHistory, Source, TaskType
from shared.repositories.history import HistoryRepository
from shared.repositories.history_pages import HEAD_PAGE, INFLUENCER_PAGES, PAGE_POINTS, encode_point
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
USER_ID = 25025320

Sessions = async_sessionmaker[AsyncSession]


async def make_task(sessions: Sessions, username: str) -> str:
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        task = await tasks.create(TaskType.INFLUENCER, username, interval_seconds=60, now=T0)
        return task.id


def point(task_id: str, minute: int, *, user_id: int = USER_ID) -> dict[str, Any]:
    slot = T0 + timedelta(minutes=minute)
    return {
        "task_id": task_id,
        "scheduled_for": slot,
        "recorded_at": slot + timedelta(seconds=2, microseconds=minute % 7),
        "user_id": user_id,
        "username": "natgeo",
        "bio": f'bio "{minute}" }},{{',  # a bio that looks like the joints between points
        "follower_count": 1000 + minute,
        "following_count": None if minute % 5 == 0 else 150,
        "post_count": minute // 10,
        "source": Source.FALLBACK if minute % 3 == 0 else Source.LIVE,
    }


async def rows_say(
    sessions: Sessions,
    user_id: int,
    *,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> bytes:
    """The points straight from the history rows, newest first (the newest stored first among
    points of the same time)."""
    history = InfluencerMetricsHistory
    query = select(history).where(history.user_id == user_id)
    if since is not None:
        query = query.where(history.recorded_at >= since)
    if until is not None:
        query = query.where(history.recorded_at <= until)
    query = query.order_by(history.recorded_at.desc(), history.id.desc()).limit(limit)
    async with sessions() as session:
        rows = (await session.scalars(query)).all()
    points = [encode_point(INFLUENCER_PAGES, vars(row)) for row in rows]
    return b"[" + b",".join(points) + b"]"


async def pages_say(
    sessions: Sessions,
    user_id: int,
    *,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> bytes:
    async with sessions() as session:
        history = HistoryRepository(session)
        return await history.influencer_points_json(user_id, limit=limit, since=since, until=until)


async def assert_pages_agree_with_rows(sessions: Sessions, user_id: int, minutes: int) -> None:
    windows: list[dict[str, Any]] = [{"limit": limit} for limit in (1, 99, 100, 101, 250, 1000)]
    # Bounds on a point's exact time, between points, and outside the history.
    exact = point("", minutes // 3)["recorded_at"]
    between = T0 + timedelta(minutes=minutes // 2, seconds=30)
    windows += [
        {"limit": 1000, "since": exact},
        {"limit": 1000, "until": exact},
        {"limit": 50, "since": exact, "until": between},
        {"limit": 1000, "since": between - timedelta(minutes=150), "until": between},
        {"limit": 7, "until": between},
        {"limit": 1000, "since": T0 + timedelta(days=1)},
        {"limit": 1000, "until": T0 - timedelta(days=1)},
    ]
    for window in windows:
        from_pages = await pages_say(sessions, user_id, **window)
        assert from_pages == await rows_say(sessions, user_id, **window), window


async def pages_of(sessions: Sessions, user_id: int) -> list[InfluencerHistoryPage]:
    async with sessions() as session:
        pages = await session.scalars(
            select(InfluencerHistoryPage)
            .where(InfluencerHistoryPage.user_id == user_id)
            .order_by(InfluencerHistoryPage.page_no)
        )
        return list(pages)


def assert_well_formed(pages: Sequence[InfluencerHistoryPage], stored: int) -> None:
    """Numbers follow time without overlap; only the head may hold fewer than a page."""
    assert sum(page.points for page in pages) == stored
    assert pages[-1].page_no == HEAD_PAGE
    assert [page.page_no for page in pages[:-1]] == list(range(1, len(pages)))
    for older, newer in itertools.pairwise(pages):
        assert older.newest_at <= newer.oldest_at
    assert all(page.points >= PAGE_POINTS for page in pages[:-1])
    for page in pages:
        assert len(orjson.loads(b"[" + page.body + b"]")) == page.points


async def test_points_in_order_fill_and_seal_pages(sessions: Sessions) -> None:
    task_id = await make_task(sessions, "natgeo")
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for minute in range(0, 330, 3):
            batch = [point(task_id, m) for m in range(minute, minute + 3)]
            await history.add_influencer_points(batch)

    pages = await pages_of(sessions, USER_ID)
    # A batch goes onto the head whole: a head of 99 points takes three more, then is sealed.
    assert [page.points for page in pages] == [102, 102, 102, 24]
    assert not any(page.unsorted for page in pages)
    assert_well_formed(pages, 330)
    await assert_pages_agree_with_rows(sessions, USER_ID, 330)


async def test_late_and_repeated_points_land_where_their_time_says(sessions: Sessions) -> None:
    task_id = await make_task(sessions, "natgeo")
    minutes = list(range(345))
    # Some jobs finish late: a point comes up to 150 minutes (one or two pages) after its time.
    rng = random.Random(7)
    late = set(rng.sample(minutes, 40))
    order = sorted(minutes, key=lambda m: m + (rng.randint(5, 150) if m in late else 0))
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        position = 0
        while position < len(order):
            size = rng.choice((1, 1, 2, 5))
            batch = [point(task_id, m) for m in order[position : position + size]]
            # Now and then a slot is written again (a job run twice): stored once.
            if rng.random() < 0.2:
                batch.append(point(task_id, order[rng.randrange(position + 1)]) | {"bio": "again"})
            await history.add_influencer_points(batch)
            position += size

    pages = await pages_of(sessions, USER_ID)
    assert_well_formed(pages, 345)
    assert any(page.unsorted for page in pages), "the late points were put out of order"
    await assert_pages_agree_with_rows(sessions, USER_ID, 345)


async def test_points_of_the_same_time_read_newest_stored_first(sessions: Sessions) -> None:
    first, second = await make_task(sessions, "natgeo"), await make_task(sessions, "natgeo_tv")
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        await history.add_influencer_point(**point(first, 1))
        # A second task learnt the same Instagram id; its point has the very same time.
        await history.add_influencer_point(**point(second, 1) | {"follower_count": 7})
        await history.add_influencer_point(**point(first, 0))
    from_pages = orjson.loads(await pages_say(sessions, USER_ID, limit=10))
    assert [p["follower_count"] for p in from_pages] == [7, 1001, 1000]
    assert await pages_say(sessions, USER_ID, limit=10) == await rows_say(
        sessions, USER_ID, limit=10
    )


async def test_a_time_given_in_another_zone_is_paged_in_utc(sessions: Sessions) -> None:
    task_id = await make_task(sessions, "natgeo")
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        await history.add_influencer_point(**point(task_id, 0))
        later = point(task_id, 1)
        later["recorded_at"] = later["recorded_at"].astimezone(timezone(timedelta(hours=2)))
        await history.add_influencer_point(**later)
    from_pages = await pages_say(sessions, USER_ID, limit=10)
    assert from_pages == await rows_say(sessions, USER_ID, limit=10)
    assert b"+02:00" not in from_pages


async def test_a_profile_whose_id_is_unknown_gets_rows_but_no_pages(sessions: Sessions) -> None:
    task_id = await make_task(sessions, "natgeo")
    async with sessions.begin() as session:
        stored = await HistoryRepository(session).add_influencer_point(
            **point(task_id, 0) | {"user_id": None}
        )
    assert stored
    async with sessions() as session:
        assert (await session.scalars(select(InfluencerHistoryPage))).all() == []


async def test_concurrent_writers_keep_every_point_once_in_order(
    database_url: str, sessions: Sessions
) -> None:
    """Three collector-like writers (READ COMMITTED, like the collector's engine) storing the
    same targets' slots at once, some slots twice, the first points of new targets included."""
    targets = {USER_ID + n: await make_task(sessions, f"target_{n}") for n in range(4)}
    engine: AsyncEngine = create_engine(
        Settings(database_url=database_url), isolation_level="READ COMMITTED"
    )
    writers = create_session_factory(engine)

    async def writer(minutes: range) -> None:
        for minute in minutes:
            batch = [point(task, minute, user_id=user) for user, task in targets.items()]
            for attempt in range(5):
                try:
                    async with writers.begin() as session:
                        await HistoryRepository(session).add_influencer_points(batch)
                    break
                except Exception:  # the collector's writer retries a failed batch the same way
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.01)

    try:
        # Interleaved minutes: each writer's points arrive between the other's.
        await asyncio.gather(
            writer(range(0, 240, 2)), writer(range(1, 240, 2)), writer(range(0, 240, 5))
        )
        for user in targets:
            assert_well_formed(await pages_of(sessions, user), 240)
            await assert_pages_agree_with_rows(sessions, user, 240)
    finally:
        await engine.dispose()
