"""The roll-ups against the real database: written with the rows, rebuilt from them."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from shared.models import InfluencerDaily, InfluencerHourly, PostHourly, Source, TaskType
from shared.repositories.history import HistoryRepository
from shared.rollups import rebuild
from tests.integration.test_history_repository import Sessions, influencer_point, make_task

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def point(task_id: str, at: datetime, followers: int, source: Source = Source.LIVE) -> Any:
    return influencer_point(task_id, 0, followers) | {
        "scheduled_for": at,
        "recorded_at": at,
        "source": source,
    }


async def buckets(sessions: Sessions, model: Any) -> list[tuple[datetime, datetime, int]]:
    async with sessions() as session:
        rows = await session.execute(
            select(model.bucket_start, model.recorded_at, model.follower_count).order_by(
                model.bucket_start
            )
        )
        return [tuple(row) for row in rows]


async def test_each_bucket_keeps_its_latest_counted_point_whatever_the_order(
    sessions: Sessions,
) -> None:
    task_id = await make_task(sessions, TaskType.INFLUENCER, "natgeo")
    late = T0 + timedelta(minutes=50)
    early = T0 + timedelta(minutes=10)
    next_day = T0 + timedelta(days=1, minutes=5)
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        await history.add_influencer_point(**point(task_id, late, 150))
        # Stored later but recorded earlier: it must not replace the 12:50 point.
        await history.add_influencer_point(**point(task_id, early, 110))
        # A fallback repeats an old value and never counts, however late.
        await history.add_influencer_point(
            **point(task_id, T0 + timedelta(minutes=55), 999, Source.FALLBACK)
        )
        await history.add_influencer_points(
            [
                point(task_id, T0 + timedelta(hours=1), 160),
                point(task_id, T0 + timedelta(hours=1, minutes=30), 170),
                point(task_id, next_day, 200),
            ]
        )

    hourly = [
        (T0, late, 150),
        (T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=30), 170),
        (datetime(2026, 11, 22, 12, tzinfo=UTC), next_day, 200),
    ]
    daily = [
        (datetime(2026, 11, 21, tzinfo=UTC), T0 + timedelta(hours=1, minutes=30), 170),
        (datetime(2026, 11, 22, tzinfo=UTC), next_day, 200),
    ]
    assert await buckets(sessions, InfluencerHourly) == hourly
    assert await buckets(sessions, InfluencerDaily) == daily

    async with sessions.begin() as session:  # a projection gone wrong
        await session.execute(update(InfluencerDaily).values(follower_count=0))
        await session.execute(delete(InfluencerHourly).where(InfluencerHourly.bucket_start == T0))
    assert await rebuild(sessions) == 1
    assert await rebuild(sessions) == 1  # again: the same buckets
    assert await buckets(sessions, InfluencerHourly) == hourly
    assert await buckets(sessions, InfluencerDaily) == daily


async def test_posts_have_buckets_of_their_own(sessions: Sessions) -> None:
    task_id = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    async with sessions.begin() as session:
        await HistoryRepository(session).add_post_point(
            task_id=task_id,
            post_code="CxYQJO8xuC6",
            post_id=None,
            like_count=5,
            comment_count=1,
            play_count=None,
            recorded_at=T0,
            scheduled_for=T0,
            source=Source.LIVE,
        )
    async with sessions() as session:
        rows = (await session.execute(select(PostHourly.bucket_start, PostHourly.like_count))).all()
    assert [tuple(row) for row in rows] == [(T0, 5)]
