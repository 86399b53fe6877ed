"""Engagement of sandbox creators whose posts are known: the collector samples the in-process
sandbox, and user_stats must say what the sandbox's own feed works out to (and /usage what the
samples cost)."""

import statistics
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.collector.collect import Collector, Outcome
from services.collector.metrics import CollectorMetrics
from services.collector.tikhub import PROFILE_V1, USER_POSTS_PAGE, USER_POSTS_V1
from services.collector.worker import build_collector
from services.sandbox.app import create_app
from services.sandbox.settings import SandboxSettings
from shared.models import TaskType
from shared.settings import Settings
from tests.api.support import INFLUENCER_PREFIX, running_app
from tests.collector.support import Sessions, make_task, slot_now
from tests.sandbox.support import FakeClock

DAY = 86_400


class Sandbox:
    """An in-process sandbox on a clock that stands still, and a client of it."""

    def __init__(self) -> None:
        # Now, held still: the collector and the test read the very same numbers.
        self.app = create_app(SandboxSettings(_env_file=None), clock=FakeClock(time.time()))
        self.transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(
            transport=self.transport,
            base_url="http://sandbox.test",
            headers={"Authorization": "Bearer sandbox-key"},
        )

    async def data(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    async def calls_to(self, path: str) -> int:
        counts = (await self.client.get("/_sandbox/calls")).json()
        return int(counts["by_path"].get(path, 0))


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox()
    yield sandbox
    await sandbox.client.aclose()


@pytest.fixture
async def sampling_collector(
    collector_settings: Settings, redis: Redis, sessions: Sessions, sandbox: Sandbox
) -> AsyncIterator[Collector]:
    collector = build_collector(
        collector_settings,
        redis=redis,
        sessions=sessions,
        metrics=CollectorMetrics(CollectorRegistry()),
        transport=sandbox.transport,
    )
    yield collector
    await collector.pool.aclose()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[AsyncClient]:
    async with running_app(settings) as client:
        yield client


async def sample(collector: Collector, sessions: Sessions, api: AsyncClient, username: str) -> Any:
    """Collect one slot of a track_posts task for `username`; its user_stats.engagement."""
    task = await make_task(sessions, TaskType.INFLUENCER, username, track_posts=True)
    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE
    response = await api.get(f"{INFLUENCER_PREFIX}/user_stats/{username}")
    assert response.status_code == 200, response.text
    return response.json()["data"]["engagement"]


async def known_feed(sandbox: Sandbox, username: str) -> tuple[int, list[dict[str, Any]]]:
    """The creator's followers and the page of posts the collector was given."""
    profile = await sandbox.data(PROFILE_V1, username=username)
    feed = await sandbox.data(USER_POSTS_V1, user_id=profile["pk"], count=USER_POSTS_PAGE)
    return profile["follower_count"], feed["items"]


def newest_unpinned(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest 12 posts that are not pinned: what the medians are over."""
    unpinned = [item for item in items if not item["is_pinned"]]
    return sorted(unpinned, key=lambda item: -item["taken_at"])[:12]


async def test_engagement_of_a_sandbox_creator_matches_its_known_posts(
    sampling_collector: Collector, sessions: Sessions, api: AsyncClient, sandbox: Sandbox
) -> None:
    data = await sample(sampling_collector, sessions, api, "natgeo")

    followers, items = await known_feed(sandbox, "natgeo")
    recent = newest_unpinned(items)
    # What makes this creator a fair test: pinned posts, hidden likes and photos among them.
    assert any(item["is_pinned"] for item in items)
    assert any(item["like_count"] is None for item in recent)
    assert any(item["media_type"] != 2 and item["play_count"] == 0 for item in recent)
    assert any(item["media_type"] == 2 for item in recent)

    visible = [i for i in recent if i["like_count"] is not None]
    videos = [i for i in visible if i["media_type"] == 2]
    assert data["posts_sampled"] == 12
    assert [post["post_code"] for post in data["posts"]] == [i["code"] for i in recent]
    assert data["median_likes"] == statistics.median(i["like_count"] for i in visible)
    assert data["median_comments"] == statistics.median(i["comment_count"] for i in recent)
    assert data["engagement_rate"] == pytest.approx(
        statistics.median((i["like_count"] + i["comment_count"]) / followers * 100 for i in visible)
    )
    assert data["engagement_rate_by_views"] == pytest.approx(
        statistics.median(
            (i["like_count"] + i["comment_count"]) / i["ig_play_count"] * 100 for i in videos
        )
    )
    sampled_at = datetime.fromisoformat(data["sampled_at"]).timestamp()
    in_28_days = [i for i in items if sampled_at - 28 * DAY < i["taken_at"] <= sampled_at]
    assert data["posts_per_week"] == len(in_28_days) / 4
    assert await sandbox.calls_to(USER_POSTS_V1) == 2  # the collector's sample and ours


async def test_a_creator_with_fewer_than_12_posts(
    sampling_collector: Collector, sessions: Sessions, api: AsyncClient, sandbox: Sandbox
) -> None:
    data = await sample(sampling_collector, sessions, api, "fewposts.anna")

    _, items = await known_feed(sandbox, "fewposts.anna")
    assert len(items) == 5
    unpinned = [item["code"] for item in items if not item["is_pinned"]]
    assert data["posts_sampled"] == len(unpinned) < 12
    assert [post["post_code"] for post in data["posts"]] == unpinned
    # All five were posted in the days before the sandbox's epoch, months ago.
    assert data["posts_per_week"] == 0.0
    assert data["median_comments"] is not None


async def test_a_creator_who_hides_every_like_has_no_like_based_numbers(
    sampling_collector: Collector, sessions: Sessions, api: AsyncClient, sandbox: Sandbox
) -> None:
    data = await sample(sampling_collector, sessions, api, "hiddenlikes.ben")

    _, items = await known_feed(sandbox, "hiddenlikes.ben")
    recent = newest_unpinned(items)
    assert data["posts_sampled"] == 12
    assert {post["like_count"] for post in data["posts"]} == {None}
    assert data["median_likes"] is None
    assert data["engagement_rate"] is None
    assert data["engagement_rate_by_views"] is None
    assert data["median_comments"] == statistics.median(i["comment_count"] for i in recent)


async def test_a_private_creator_costs_no_sample(
    sampling_collector: Collector, sessions: Sessions, api: AsyncClient, sandbox: Sandbox
) -> None:
    assert await sample(sampling_collector, sessions, api, "private.cleo") is None
    assert await sandbox.calls_to(USER_POSTS_V1) == 0


async def test_usage_counts_the_sample_calls_and_projects_at_most_one_an_hour(
    sampling_collector: Collector, sessions: Sessions, api: AsyncClient, sandbox: Sandbox
) -> None:
    # Every 20 minutes: 72 slots a day, of which 24 (one an hour) take a sample.
    tracked = await make_task(
        sessions, TaskType.INFLUENCER, "natgeo", interval_seconds=1200, track_posts=True
    )
    plain = await make_task(sessions, TaskType.INFLUENCER, "nasa", interval_seconds=1200)
    for task in (tracked, plain):
        assert await sampling_collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE

    tikhub = (await api.get("/api/v1/usage")).json()["data"]["tikhub"]
    statuses = {
        task.target: (await api.get(f"{INFLUENCER_PREFIX}/task_status/{task.id}")).json()["data"]
        for task in (tracked, plain)
    }

    # What the sandbox was asked: both profiles and one sample, each a v1 call at 0.001 USD.
    asked = await sandbox.calls_to(PROFILE_V1) + await sandbox.calls_to(USER_POSTS_V1)
    assert asked == 3
    assert tikhub["today"] == {"calls": 3, "billable_calls": 3, "cost_usd": 0.003}
    assert tikhub["projected"]["calls_per_day"] == 72 + 24 + 72
    assert tikhub["projected"]["cost_usd_per_day"] == 0.168
    assert statuses["natgeo"]["usage"] == {
        "calls_today": 2,
        "cost_usd_today": 0.002,
        "projected_calls_per_day": 96.0,
        "projected_cost_usd_per_day": 0.096,
    }
    assert statuses["nasa"]["usage"] == {
        "calls_today": 1,
        "cost_usd_today": 0.001,
        "projected_calls_per_day": 72.0,
        "projected_cost_usd_per_day": 0.072,
    }
