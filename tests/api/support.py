"""Helpers of the API tests: the two task kinds, a running app, history rows."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.api_keys import hash_key, new_key
from services.api.app import create_app
from shared.models import Source, TaskType
from shared.repositories.api_keys import ApiKeyRepository
from shared.repositories.history import HistoryRepository
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

Sessions = async_sessionmaker[AsyncSession]

INFLUENCER_PREFIX = "/api/v1/instagram/influencer_monitor"
POST_PREFIX = "/api/v1/instagram/post_monitor"
# A port nothing listens on: connections are refused at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
DEAD_DATABASE_URL = "mysql+asyncmy://root@127.0.0.1:1/instagram_monitor"


@dataclass(frozen=True)
class Kind:
    """One kind of task as a client sees it: its routes and how to create one."""

    task_type: TaskType
    prefix: str
    target_field: str

    def create_body(self, target: str, interval: str = "1h") -> dict[str, str]:
        """The create_monitor_task body for a username or post code."""
        if self.task_type is TaskType.INFLUENCER:
            return {"username": target, "interval": interval}
        return {"post_url": f"https://www.instagram.com/p/{target}/", "interval": interval}

    @property
    def bulk_inputs_field(self) -> str:
        """How create_monitor_tasks names its inputs."""
        return "usernames" if self.task_type is TaskType.INFLUENCER else "post_urls"

    def bulk_inputs(self, targets: list[str]) -> list[str]:
        """The create_monitor_tasks inputs naming these usernames or post codes."""
        return [self.create_body(target)[self.create_field] for target in targets]

    @property
    def create_field(self) -> str:
        """How create_monitor_task names its target."""
        return "username" if self.task_type is TaskType.INFLUENCER else "post_url"

    def targets(self, count: int, prefix: str = "t") -> list[str]:
        """`count` distinct usernames or post codes, in the order the API sorts them."""
        return [f"{prefix}{n:04d}" for n in range(count)]

    @property
    def sample_target(self) -> str:
        return "natgeo" if self.task_type is TaskType.INFLUENCER else "CxYQJO8xuC6"

    @property
    def default_options(self) -> dict[str, bool]:
        """The settings beyond the interval a task of this kind answers with by default."""
        return {"track_posts": False} if self.task_type is TaskType.INFLUENCER else {}


INFLUENCER = Kind(TaskType.INFLUENCER, INFLUENCER_PREFIX, "username")
POST = Kind(TaskType.POST, POST_PREFIX, "post_code")
OTHER = {TaskType.INFLUENCER: POST, TaskType.POST: INFLUENCER}


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client on `app`, whose lifespan (engine, Redis) runs meanwhile."""
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://api.test") as client,
    ):
        yield client


def running_app(settings: Settings) -> AbstractAsyncContextManager[AsyncClient]:
    """A client on a fresh app built from `settings`."""
    return serving(create_app(settings))


async def create_task(
    client: AsyncClient,
    kind: Kind,
    target: str | None = None,
    interval: str = "1h",
    *,
    headers: dict[str, str] | None = None,
) -> str:
    """Create a task through the API (with `headers`, e.g. a key) and return its id."""
    response = await client.post(
        f"{kind.prefix}/create_monitor_task",
        json=kind.create_body(target or kind.sample_target, interval),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["task_id"])


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Check the error envelope and return its `error` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


async def learn_user_id(sessions: Sessions, task_id: str, user_id: int, now: datetime) -> None:
    """What the collector does after the first fetch of a profile."""
    async with sessions.begin() as session:
        await TaskRepository(session).record_success(task_id, now=now, user_id=user_id)


async def add_influencer_points(
    sessions: Sessions,
    task_id: str,
    *,
    user_id: int,
    start: datetime,
    count: int,
    step: timedelta = timedelta(hours=1),
    source: Source = Source.LIVE,
) -> None:
    """`count` history rows, one per slot from `start`, with followers 1000, 1001, …"""
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for n in range(count):
            moment = start + n * step
            await history.add_influencer_point(
                user_id=user_id,
                username="natgeo",
                bio=f"bio {n}",
                follower_count=1000 + n,
                following_count=10,
                post_count=None,
                recorded_at=moment,
                task_id=task_id,
                scheduled_for=moment,
                source=source,
            )


async def add_post_points(
    sessions: Sessions,
    task_id: str,
    *,
    post_code: str,
    start: datetime,
    count: int,
    step: timedelta = timedelta(hours=1),
    source: Source = Source.LIVE,
) -> None:
    """`count` history rows of a post, likes 500, 501, …"""
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for n in range(count):
            moment = start + n * step
            await history.add_post_point(
                post_code=post_code,
                post_id="3170000000000000001",
                like_count=500 + n,
                comment_count=7,
                play_count=None,
                recorded_at=moment,
                task_id=task_id,
                scheduled_for=moment,
                source=source,
            )


async def add_api_key(sessions: Sessions, name: str = "client") -> str:
    """A new active API key, stored as `keys create` stores it; returns the key itself."""
    key = new_key()
    async with sessions.begin() as session:
        await ApiKeyRepository(session).create(name, hash_key(key), now=datetime.now(UTC))
    return key
