"""HistoryRepository against the real database."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.models import InfluencerMetricsHistory, PostMetricsHistory, Source, TaskType
from shared.repositories.history import HistoryRepository
from shared.repositories.tasks import TaskRepository

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
USER_ID = 25025320

Sessions = async_sessionmaker[AsyncSession]


async def make_task(sessions: Sessions, task_type: TaskType, target: str) -> str:
    async with sessions.begin() as session:
        task = await TaskRepository(session).create(task_type, target, interval_seconds=30, now=T0)
        return task.id


def influencer_point(task_id: str, minute: int, followers: int | None) -> dict[str, object]:
    slot = T0 + timedelta(minutes=minute)
    return {
        "task_id": task_id,
        "scheduled_for": slot,
        "recorded_at": slot + timedelta(seconds=1),
        "user_id": USER_ID,
        "username": "instagram",
        "bio": "Discover what's new",
        "follower_count": followers,
        "following_count": 150,
        "post_count": None,
        "source": Source.LIVE,
    }


async def test_same_slot_twice_stores_one_row(sessions: Sessions) -> None:
    task_id = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    async with sessions.begin() as session:
        assert await HistoryRepository(session).add_influencer_point(
            **influencer_point(task_id, 0, 100)
        )
    async with sessions.begin() as session:
        second = influencer_point(task_id, 0, 999) | {"source": Source.FALLBACK}
        assert not await HistoryRepository(session).add_influencer_point(**second)
    async with sessions() as session:
        rows = (await session.scalars(select(InfluencerMetricsHistory))).all()
    assert [(r.follower_count, r.source) for r in rows] == [(100, Source.LIVE)]


async def test_influencer_points_newest_first_with_limit_and_range(sessions: Sessions) -> None:
    task_id = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for minute in range(5):
            await history.add_influencer_point(**influencer_point(task_id, minute, 100 + minute))
    async with sessions() as session:
        history = HistoryRepository(session)
        everything = await history.influencer_points(USER_ID, limit=100)
        newest_two = await history.influencer_points(USER_ID, limit=2)
        middle = await history.influencer_points(
            USER_ID,
            limit=100,
            since=T0 + timedelta(minutes=1, seconds=2),
            until=T0 + timedelta(minutes=3, seconds=1),
        )
        nobody = await history.influencer_points(USER_ID + 1, limit=100)
    assert [p["follower_count"] for p in everything] == [104, 103, 102, 101, 100]
    assert [p["follower_count"] for p in newest_two] == [104, 103]
    assert [p["follower_count"] for p in middle] == [103, 102]
    assert nobody == []
    assert everything[0] == {
        "follower_count": 104,
        "following_count": 150,
        "post_count": None,
        "bio": "Discover what's new",
        "recorded_at": T0 + timedelta(minutes=4, seconds=1),
        "source": Source.LIVE,
    }


async def test_post_points_keep_a_missing_play_count_as_null(sessions: Sessions) -> None:
    task_id = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for minute, plays in ((0, None), (1, 0), (2, 5000)):
            slot = T0 + timedelta(minutes=minute)
            await history.add_post_point(
                task_id=task_id,
                scheduled_for=slot,
                recorded_at=slot,
                post_code="CxYQJO8xuC6",
                post_id="3170000000000001",
                like_count=10 * minute,
                comment_count=None,
                play_count=plays,
                source=Source.FALLBACK if minute == 1 else Source.LIVE,
            )
        duplicate = await history.add_post_point(
            task_id=task_id,
            scheduled_for=T0,
            recorded_at=T0,
            post_code="CxYQJO8xuC6",
            like_count=1,
            source=Source.LIVE,
        )
    assert duplicate is False
    async with sessions() as session:
        points = await HistoryRepository(session).post_points("CxYQJO8xuC6", limit=10)
        count = await session.scalar(select(func.count()).select_from(PostMetricsHistory))
    assert count == 3
    assert [(p["play_count"], p["comment_count"], p["source"]) for p in points] == [
        (5000, None, Source.LIVE),
        (0, None, Source.FALLBACK),
        (None, None, Source.LIVE),
    ]
