"""Fixtures of the webhook and alert tests: a real receiver, the API, a delivery sender."""

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from services.collector.webhooks import WebhookSender, webhook_client
from shared.jobs import DELIVERY_LEASE
from shared.models import utcnow
from shared.repositories.webhooks import WebhookRepository
from shared.settings import Settings
from tests.api.support import Sessions, running_app
from tests.webhooks.receiver import Receiver, running_receiver


class Clock:
    """The sender's clock, moved by hand so that retry schedules need no waiting."""

    def __init__(self) -> None:
        # Ahead of the events the test records (at the real time): they are due at once.
        self.now = utcnow() + timedelta(seconds=10)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """The test's settings, letting webhooks reach the receiver on this machine."""
    return settings.model_copy(update={"webhook_allow_private_targets": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


@pytest.fixture
async def client(
    hook_settings: Settings, sessions: Sessions, redis: Redis
) -> AsyncIterator[AsyncClient]:
    async with running_app(hook_settings) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sender(sessions: Sessions, clock: Clock) -> AsyncIterator[WebhookSender]:
    """The collector's sender, as its job runs it."""
    http = webhook_client()
    yield WebhookSender(sessions, http, allow_private_targets=True, clock=clock)
    await http.aclose()


async def run_due(sessions: Sessions, sender: WebhookSender, now: datetime) -> list[str]:
    """What the scheduler and a collector do together: claim the deliveries due at `now`
    and make their attempts; return the statuses they end in."""
    async with sessions.begin() as session:
        due = await WebhookRepository(session).claim_due(now=now, limit=100, lease=DELIVERY_LEASE)
    return await sender.deliver([(d.delivery_id, d.attempt) for d in due]) if due else []


async def create_webhook(client: AsyncClient, url: str, **fields: object) -> dict[str, object]:
    response = await client.post("/api/v1/webhooks", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()["data"]
    return created
