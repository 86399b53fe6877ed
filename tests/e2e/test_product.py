"""The whole product as real processes: sandbox, API, scheduler(s) and collector(s).

One timeline of about three minutes exercises what a user relies on. Tasks run at the
contract's shortest interval (30 s), so each phase overlaps the others where they cannot
interfere: pause and stop run on their own targets while the outage, the collector crash and
the extra replicas hit the two tasks whose every slot is checked at the end.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.models import InfluencerMetricsHistory, PostMetricsHistory, Source, Task, utcnow
from shared.settings import Settings
from tests.e2e.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

INTERVAL = 30
INFLUENCER = "/api/v1/instagram/influencer_monitor"
POST = "/api/v1/instagram/post_monitor"
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def stack(settings: Settings, sessions: Sessions, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(
        settings, tmp_path, ("sandbox", "api", "scheduler", "collector")
    ) as stack:
        yield stack


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=10) as client:
        yield client


@pytest.fixture
async def sandbox(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=10) as client:
        yield client


async def slots(sessions: Sessions, task_id: str) -> list[tuple[datetime, Source]]:
    """(scheduled_for, source) of every history row of a task, oldest first."""
    async with sessions() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        model = InfluencerMetricsHistory if task.username else PostMetricsHistory
        rows = await session.execute(
            select(model.scheduled_for, model.source)
            .where(model.task_id == task_id)
            .order_by(model.scheduled_for)
        )
        found = []
        for slot, source in rows:
            assert slot is not None, "a collected row fills a slot"
            found.append((slot, source))
        return found


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float) -> None:
    """Poll `check` until it holds; fail with `what` after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


async def wait_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - utcnow()).total_seconds()))


async def sandbox_calls(sandbox: httpx.AsyncClient, *, username: str = "", code: str = "") -> int:
    counts = (await sandbox.get("/_sandbox/calls")).json()
    return int(counts["by_username"].get(username, 0) + counts["by_shortcode"].get(code, 0))


async def create(api: httpx.AsyncClient, prefix: str, body: dict[str, object]) -> str:
    response = await api.post(f"{prefix}/create_monitor_task", json=body | {"interval": "30s"})
    assert response.status_code == 201, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


async def test_the_product_collects_every_slot_once_through_pause_stop_outage_and_crashes(
    stack: Stack,
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sessions: Sessions,
) -> None:
    profile = await create(api, INFLUENCER, {"username": "@E2E.Profile"})
    post = await create(api, POST, {"post_url": "https://www.instagram.com/reel/E2eReel1/"})
    paused = await create(api, INFLUENCER, {"username": "e2e.paused"})
    stopped = await create(api, INFLUENCER, {"username": "e2e.stopped"})
    start = utcnow()

    async def first_rows_written() -> bool:
        counts = [len(await slots(sessions, t)) for t in (profile, post, paused, stopped)]
        return all(counts)

    await eventually(first_rows_written, "the first collection of every new task", 15)
    history = (await api.get(f"{INFLUENCER}/user_history/e2e.profile")).json()["data"]
    assert history["username"] == "e2e.profile"
    assert history["history"][0]["follower_count"] > 0
    assert history["history"][0]["source"] == "live"

    # Pause one task and stop another; from now on neither may cost a TikHub call.
    assert (await api.post(f"{INFLUENCER}/pause_task/{paused}")).json()["data"]["status"] == (
        "paused"
    )
    stop = await api.post(f"{INFLUENCER}/stop_tasks", json={"task_ids": [stopped]})
    assert stop.json()["data"]["deleted_task_ids"] == [stopped]
    calls_when_paused = await sandbox_calls(sandbox, username="e2e.paused")
    calls_when_stopped = await sandbox_calls(sandbox, username="e2e.stopped")

    # Slot 1 is collected live; then TikHub goes down for slot 2.
    await wait_until(start + timedelta(seconds=INTERVAL + 8))
    await sandbox.put("/_sandbox/config", json={"outage": True})
    await wait_until(start + timedelta(seconds=2 * INTERVAL))

    async def slot_two_written() -> bool:
        return all([len(await slots(sessions, t)) >= 3 for t in (profile, post)])

    await eventually(slot_two_written, "the rows of the slot during the outage", INTERVAL)
    await sandbox.put("/_sandbox/config", json={"outage": False})

    # Two intervals later the paused and the stopped task have made no call and no row.
    assert await sandbox_calls(sandbox, username="e2e.paused") == calls_when_paused
    assert await sandbox_calls(sandbox, username="e2e.stopped") == calls_when_stopped
    assert len(await slots(sessions, paused)) == 1
    assert len(await slots(sessions, stopped)) == 1
    stopped_history = await api.get(f"{INFLUENCER}/user_history/e2e.stopped")
    assert stopped_history.status_code == 200
    assert len(stopped_history.json()["data"]["history"]) == 1
    status = (await api.get(f"{INFLUENCER}/task_status/{stopped}")).json()["data"]
    assert (status["status"], status["tags"]) == ("stopped", [])
    # A stopped task costs nothing more; what it cost is what the sandbox was asked for it.
    assert status["usage"]["projected_calls_per_day"] == 0
    assert status["usage"]["calls_today"] == calls_when_stopped
    # Its one collection succeeded; stopping keeps that on record.
    assert status["health"]["state"] == "ok"

    # Resume: collected again at once, and then on its new grid.
    resumed = await api.post(f"{INFLUENCER}/resume_task/{paused}")
    assert resumed.json()["data"] == {"task_id": paused, "status": "active"}

    async def resumed_row_written() -> bool:
        return len(await slots(sessions, paused)) == 2

    await eventually(resumed_row_written, "a row after resume", 10)

    # Slot 3: the collector is killed while its TikHub calls hang, and started again.
    await sandbox.put("/_sandbox/config", json={"latency_ms": 4000})
    await wait_until(start + timedelta(seconds=3 * INTERVAL + 1.5))
    await stack.stop("collector", kill=True)
    await sandbox.put("/_sandbox/config", json={"latency_ms": 0})
    await stack.start("collector")

    # Two schedulers and two collectors share the work for slots 4 and 5.
    await stack.start("scheduler", "scheduler-2")
    await stack.start("collector", "collector-2")
    await wait_until(start + timedelta(seconds=4 * INTERVAL - 3))
    calls_before_replicas = await sandbox_calls(sandbox, username="e2e.profile")

    async def slot_five_written() -> bool:
        return all([len(await slots(sessions, t)) >= 6 for t in (profile, post)])

    await wait_until(start + timedelta(seconds=5 * INTERVAL))
    await eventually(slot_five_written, "slot 5 with two schedulers and two collectors", 25)

    for task_id in (profile, post):
        rows = await slots(sessions, task_id)
        first = rows[0][0]
        assert [slot for slot, _ in rows] == [
            first + timedelta(seconds=k * INTERVAL) for k in range(6)
        ], "every slot on the grid has exactly one row"
        assert [source for _, source in rows] == [
            Source.LIVE,
            Source.LIVE,
            Source.FALLBACK,
            Source.LIVE,
            Source.LIVE,
            Source.LIVE,
        ]
    # One call per slot even with two of everything: nothing was collected twice.
    assert await sandbox_calls(sandbox, username="e2e.profile") == calls_before_replicas + 2

    api_history = (await api.get(f"{POST}/video_history/E2eReel1")).json()["data"]["history"]
    assert [point["source"] for point in api_history] == [
        "live",
        "live",
        "live",
        "fallback",
        "live",
        "live",
    ]
    assert all(point["play_count"] is not None for point in api_history)


async def test_a_track_posts_creator_gets_engagement_from_one_sample_an_hour(
    stack: Stack, api: httpx.AsyncClient, sandbox: httpx.AsyncClient, sessions: Sessions
) -> None:
    task_id = await create(api, INFLUENCER, {"username": "e2e.creator", "track_posts": True})

    async def two_slots() -> bool:
        return len(await slots(sessions, task_id)) >= 2

    await eventually(two_slots, "two collected slots", within=INTERVAL * 3)

    counts = (await sandbox.get("/_sandbox/calls")).json()["by_path"]
    # Two profile fetches, one sample: the second slot is within the hour.
    assert counts["/api/v1/instagram/v1/fetch_user_posts"] == 1
    stats = (await api.get(f"{INFLUENCER}/user_stats/e2e.creator")).json()["data"]
    engagement = stats["engagement"]
    posts = engagement["posts"]
    assert engagement["posts_sampled"] == len(posts) == 12
    times = [post["published_at"] for post in posts]
    assert times == sorted(times, reverse=True)
    assert all(p["play_count"] is None for p in posts if p["media_type"] != "video")
