"""Fixtures of the collector tests: a Collector on the real MariaDB/Redis and a respx TikHub."""

import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import respx
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.collector.collect import Collector
from services.collector.metrics import CollectorMetrics
from services.collector.worker import build_collector
from shared.settings import Settings
from tests.collector.processes import StandInTikHub
from tests.collector.support import BASE_URL, Sessions


class FakeClock:
    """The breaker's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def collector_settings(settings: Settings) -> Settings:
    """The test's settings, with a rate budget no test reaches unless it means to."""
    return settings.model_copy(
        update={
            "tikhub_rate_limit_per_second": 10_000,
            "collector_breaker_failure_threshold": 2,
            "collector_breaker_cooloff_seconds": 30,
        }
    )


@pytest.fixture
def metrics() -> CollectorMetrics:
    return CollectorMetrics(CollectorRegistry())


@pytest.fixture
def waits() -> list[float]:
    """Every back-off the TikHub client asked for, instead of sleeping through it."""
    return []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tikhub() -> Iterator[respx.MockRouter]:
    """A fake TikHub; a call to a route the test did not set up fails the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def collector(
    collector_settings: Settings,
    redis: Redis,
    sessions: Sessions,
    metrics: CollectorMetrics,
    waits: list[float],
    clock: FakeClock,
    tikhub: respx.MockRouter,
) -> AsyncIterator[Collector]:
    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    collector = build_collector(
        collector_settings,
        redis=redis,
        sessions=sessions,
        metrics=metrics,
        sleep=record_wait,
        clock=clock,
    )
    yield collector
    await collector.pool.aclose()


@pytest.fixture
def stand_in() -> Iterator[StandInTikHub]:
    """A stand-in TikHub on a free port, for collector processes."""
    server = StandInTikHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
