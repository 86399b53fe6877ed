"""Helpers of the collector tests: TikHub bodies in every shape seen, and database reads."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.collector.tikhub import PROFILE_V1
from shared.models import (
    InfluencerMetricsHistory,
    PostMetricsHistory,
    Task,
    TaskType,
    utcnow,
)
from shared.repositories.tasks import TaskRepository

Sessions = async_sessionmaker[AsyncSession]

BASE_URL = "https://tikhub.test"
# Larger than 2**53: a JSON client that reads it as a float would store the wrong id.
BIG_USER_ID = "4310187056193357557"
MEDIA_ID = "3195180312546139481"


def success(data: Any, *, router: str = PROFILE_V1) -> dict[str, Any]:
    """TikHub's success envelope around an upstream payload."""
    return {
        "code": 200,
        "request_id": "req-test",
        "message": "Request successful. This request will incur a charge.",
        "router": router,
        "params": {},
        "data": data,
    }


def failure(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """TikHub's error body."""
    return {"detail": {"code": status, "message": message, "router": "", "params": {}, **extra}}


def flat_profile(**overrides: Any) -> dict[str, Any]:
    """v1 `fetch_user_info_by_username_v3`: the counts at the top of `data`."""
    return {
        "pk": BIG_USER_ID,
        "id": BIG_USER_ID,
        "username": "instagram",
        "biography": "Discover what's new on Instagram",
        "is_private": False,
        "follower_count": 697_000_123,
        "following_count": 245,
        "media_count": 8_123,
    } | overrides


def edge_profile() -> dict[str, Any]:
    """v3 `get_user_profile`: the counts under `user.edge_*`."""
    return {
        "user": {
            "id": BIG_USER_ID,
            "username": "instagram",
            "biography": "Discover what's new on Instagram",
            "edge_followed_by": {"count": 697_000_456},
            "edge_follow": {"count": 246},
            "edge_owner_to_timeline_media": {"count": 8_124, "edges": []},
        }
    }


def metrics_post(*, play_count: int | None = 90_210, is_video: bool = True) -> dict[str, Any]:
    """v2 `fetch_post_info`: the counts under `data.metrics`."""
    return {
        "data": {
            "id": MEDIA_ID,
            "pk": MEDIA_ID,
            "code": "CxYQJO8xuC6",
            "is_video": is_video,
            "metrics": {"like_count": 1_204, "comment_count": 33, "play_count": play_count},
        }
    }


def items_post(**item: Any) -> dict[str, Any]:
    """v1 by URL and v3 by code: the post as `items[0]`."""
    base = {"pk": MEDIA_ID, "id": f"{MEDIA_ID}_25025320", "code": "CxYQJO8xuC6"}
    return {"items": [base | item], "num_results": 1}


def graphql_post() -> dict[str, Any]:
    """v1 by URL, GraphQL style: `edge_media_*` counts and `video_view_count`."""
    return {
        "id": MEDIA_ID,
        "shortcode": "CxYQJO8xuC6",
        "is_video": True,
        "edge_media_preview_like": {"count": 1_300},
        "edge_media_to_comment": {"count": 41},
        "video_view_count": 77_000,
    }


async def make_task(
    sessions: Sessions,
    kind: TaskType,
    target: str,
    *,
    interval_seconds: int = 30,
    track_posts: bool = False,
) -> Task:
    """An active task, due now."""
    async with sessions.begin() as session:
        return await TaskRepository(session).create(
            kind, target, interval_seconds=interval_seconds, now=utcnow(), track_posts=track_posts
        )


async def influencer_rows(sessions: Sessions) -> list[InfluencerMetricsHistory]:
    async with sessions() as session:
        query = select(InfluencerMetricsHistory).order_by(InfluencerMetricsHistory.id)
        return list(await session.scalars(query))


async def post_rows(sessions: Sessions) -> list[PostMetricsHistory]:
    async with sessions() as session:
        query = select(PostMetricsHistory).order_by(PostMetricsHistory.id)
        return list(await session.scalars(query))


async def reload(sessions: Sessions, task_id: str) -> Task:
    async with sessions() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


def slot_now() -> datetime:
    """A slot that is due now, whole seconds like the scheduler's."""
    return datetime.now(UTC).replace(microsecond=0)
