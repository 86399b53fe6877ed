"""HistoryRepository against the real database."""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.history import encode_history
from shared.models import InfluencerMetricsHistory, PostMetricsHistory, Source, TaskType
from shared.repositories.history import INFLUENCER_HISTORY, POST_HISTORY, HistoryRepository
from shared.repositories.tasks import TaskRepository
from shared.schemas import Envelope, InfluencerHistory, PostHistory

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
    other_task_id = await make_task(sessions, TaskType.INFLUENCER, "natgeo")
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for minute in range(5):
            await history.add_influencer_point(**influencer_point(task_id, minute, 100 + minute))
    async with sessions() as session:
        reads = await HistoryRepository(session).reads()
        everything = orjson.loads(await reads.points_json(INFLUENCER_HISTORY, task_id, limit=100))
        newest_two = orjson.loads(await reads.points_json(INFLUENCER_HISTORY, task_id, limit=2))
        middle = orjson.loads(
            await reads.points_json(
                INFLUENCER_HISTORY,
                task_id,
                limit=100,
                since=T0 + timedelta(minutes=1, seconds=2),
                until=T0 + timedelta(minutes=3, seconds=1),
            )
        )
        nobody = orjson.loads(await reads.points_json(INFLUENCER_HISTORY, other_task_id, limit=100))
    assert [p["follower_count"] for p in everything] == [104, 103, 102, 101, 100]
    assert [p["follower_count"] for p in newest_two] == [104, 103]
    assert [p["follower_count"] for p in middle] == [103, 102]
    assert nobody == []
    assert everything[0] == {
        "follower_count": 104,
        "following_count": 150,
        "post_count": None,
        "bio": "Discover what's new",
        "recorded_at": "2026-11-21T12:04:01Z",
        "source": "live",
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
        points = orjson.loads(
            await (await HistoryRepository(session).reads()).points_json(
                POST_HISTORY, task_id, limit=10
            )
        )
        count = await session.scalar(select(func.count()).select_from(PostMetricsHistory))
    assert count == 3
    assert [(p["play_count"], p["comment_count"], p["source"]) for p in points] == [
        (5000, None, "live"),
        (0, None, "fallback"),
        (None, None, "live"),
    ]


# Newest first, as the repository returns them: with and without a fraction of a second.
MOMENTS = [
    T0 + timedelta(hours=2, microseconds=1),
    T0 + timedelta(hours=1, microseconds=123400),
    T0,
]
AWKWARD_BIO = 'Déjà vu 😀 "quoted" \\ back\u2028slash\x00\n'


async def stored_influencer_points(sessions: Sessions) -> tuple[bytes, dict[str, Any]]:
    """Points stored and read back as JSON, with the data they were stored from."""
    task_id = await make_task(sessions, TaskType.INFLUENCER, "natgeo")
    values = [
        {"follower_count": 2**63 - 1, "following_count": None, "post_count": 0, "bio": AWKWARD_BIO}
        | {"recorded_at": moment, "source": source}
        for moment, source in zip(MOMENTS, [Source.LIVE, Source.FALLBACK, Source.LIVE], strict=True)
    ]
    async with sessions.begin() as session:
        for point in values:
            await HistoryRepository(session).add_influencer_point(
                task_id=task_id,
                scheduled_for=point["recorded_at"],
                user_id=USER_ID,
                username="natgeo",
                **point,
            )
    async with sessions() as session:
        points = await (await HistoryRepository(session).reads()).points_json(
            INFLUENCER_HISTORY, task_id, limit=10
        )
    return points, {"username": "natgeo", "history": values}


async def stored_post_points(sessions: Sessions) -> tuple[bytes, dict[str, Any]]:
    """Points stored and read back as JSON, with the data they were stored from."""
    task_id = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    values = [
        {"like_count": 12, "comment_count": None, "play_count": None}
        | {"recorded_at": moment, "source": Source.FALLBACK}
        for moment in MOMENTS
    ]
    async with sessions.begin() as session:
        for point in values:
            await HistoryRepository(session).add_post_point(
                task_id=task_id,
                scheduled_for=point["recorded_at"],
                post_code="CxYQJO8xuC6",
                **point,
            )
    async with sessions() as session:
        points = await (await HistoryRepository(session).reads()).points_json(
            POST_HISTORY, task_id, limit=10
        )
    return points, {"post_code": "CxYQJO8xuC6", "history": values}


def body_of_response_model(model: Any, data: dict[str, Any]) -> bytes:
    """The 200 body pydantic writes for `data` through the route's response model."""
    adapter = TypeAdapter(model)
    return adapter.dump_json(
        adapter.validate_python({"status_code": 200, "success": True, "data": data})
    )


@pytest.mark.parametrize(
    ("store", "model"),
    [
        (stored_influencer_points, Envelope[InfluencerHistory]),
        (stored_post_points, Envelope[PostHistory]),
    ],
    ids=["influencer", "post"],
)
async def test_the_stored_points_make_the_body_the_response_model_would_write(
    sessions: Sessions, store: Any, model: Any
) -> None:
    points, data = await store(sessions)
    assert encode_history(*task_of(data), points) == body_of_response_model(model, data)


def test_an_empty_history_is_what_the_response_model_would_write() -> None:
    data = {"username": "nobody_yet", "history": []}
    body = encode_history(*task_of(data), b"[]")
    assert body == body_of_response_model(Envelope[InfluencerHistory], data)


def task_of(data: dict[str, Any]) -> tuple[TaskType, str]:
    """The kind and target of the task that `data` names."""
    if "username" in data:
        return TaskType.INFLUENCER, data["username"]
    return TaskType.POST, data["post_code"]
