"""Fault runs: real scheduler and collector processes while their Redis, their MariaDB or the
scheduler itself is killed with SIGKILL, each on servers the test starts on ports of its own.

What is asserted is what a user would see in the history: every slot once, collected live,
and no process that needed a restart by hand. Waits are generous (the machine may be busy);
nothing here measures speed.
"""

import asyncio
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from shared import migrate
from shared.db import create_engine, create_session_factory
from shared.models import InfluencerMetricsHistory, Source, Task, TaskHealth, utcnow
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings
from tests.collector.processes import (
    MariaDBServer,
    RedisServer,
    StandInTikHub,
    collector_env,
    free_port,
    logged_times,
    scheduler_env,
    spawn_collector,
    spawn_scheduler,
    stopped_after,
    wait_for,
)
from tests.collector.support import Sessions

# Room for a busy machine (the suite runs in several workers) to start a catch-up job before
# its task's next slot, past which the job is dropped as late.
INTERVAL = 30
# Long enough for a busy machine to start both processes before the first slot.
FIRST_SLOT_IN = timedelta(seconds=5)
COLLECT_SECONDS = 120.0

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # One after another, on one worker: each starts its own servers and processes.
    pytest.mark.xdist_group("faults"),
]


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    client = Redis.from_url(server.url)

    async def answering() -> bool:
        try:
            return bool(await client.ping())
        except RedisError:
            return False

    try:
        await wait_for(answering, "the test's Redis")
        yield server
    finally:
        await client.aclose()
        server.stop()


@pytest.fixture
def own_settings(settings: Settings, own_redis: RedisServer) -> Settings:
    return settings.model_copy(update={"redis_url": own_redis.url})


def first_slot() -> datetime:
    now = utcnow()
    return datetime.fromtimestamp(math.ceil(now.timestamp()), UTC) + FIRST_SLOT_IN


async def add_tasks(sessions: Sessions, count: int, slot: datetime) -> list[str]:
    async with sessions.begin() as session:
        return await TaskRepository(session).create_many(
            [f"fault_{n}" for n in range(count)],
            interval_seconds=INTERVAL,
            next_run_at=[slot] * count,
            now=utcnow(),
        )


async def rows_by_task(sessions: Sessions) -> dict[str, list[tuple[datetime, Source]]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                InfluencerMetricsHistory.task_id,
                InfluencerMetricsHistory.scheduled_for,
                InfluencerMetricsHistory.source,
            ).order_by(InfluencerMetricsHistory.scheduled_for)
        )
    found: dict[str, list[tuple[datetime, Source]]] = defaultdict(list)
    for task_id, slot, source in rows:
        assert slot is not None, "every collected row fills a slot"
        found[task_id].append((slot, source))
    return found


async def until_every_task_has(sessions: Sessions, ids: list[str], slot: datetime) -> None:
    async def collected() -> bool:
        found = await rows_by_task(sessions)
        return all(any(s == slot for s, _ in found.get(task_id, [])) for task_id in ids)

    await wait_for(collected, f"a row of slot {slot} for every task", seconds=COLLECT_SECONDS)


def assert_all_live(found: dict[str, list[tuple[datetime, Source]]]) -> None:
    assert {source for rows in found.values() for _, source in rows} == {Source.LIVE}


async def test_a_redis_restarted_empty_loses_no_slot_and_stores_none_twice(
    own_settings: Settings,
    sessions: Sessions,
    stand_in: StandInTikHub,
    own_redis: RedisServer,
    tmp_path: Path,
) -> None:
    slot = first_slot()
    ids = await add_tasks(sessions, 20, slot)
    # Collections hang at TikHub: the collector holds its 10 jobs, the other 10 wait in Redis.
    stand_in.answering.clear()
    env = collector_env(own_settings, stand_in.server_address[1], rate_per_second=100)
    scheduler_log, collector_log = tmp_path / "scheduler.log", tmp_path / "collector.log"

    async with (
        stopped_after(await spawn_scheduler(scheduler_env(own_settings), scheduler_log)) as sched,
        stopped_after(await spawn_collector(env, collector_log)) as collector,
    ):

        async def ten_in_flight() -> bool:
            return len(stand_in.arrivals) >= 10

        await wait_for(ten_in_flight, "10 collections in flight", seconds=COLLECT_SECONDS)
        own_redis.kill()
        own_redis.start()
        stand_in.answering.set()

        await until_every_task_has(sessions, ids, slot)
        # And the next slots come as usual, with no process restarted by hand.
        await until_every_task_has(sessions, ids, slot + timedelta(seconds=INTERVAL))
        assert (sched.returncode, collector.returncode) == (None, None)

    found = await rows_by_task(sessions)
    for task_id in ids:
        slots = [s for s, _ in found[task_id]]
        assert slots[:2] == [slot, slot + timedelta(seconds=INTERVAL)]
        assert len(slots) == len(set(slots))
    assert_all_live(found)
    assert '"scheduler.lost_slots_requeued"' in scheduler_log.read_text()


async def test_a_scheduler_killed_past_a_slot_catches_up_with_live_rows(
    own_settings: Settings,
    sessions: Sessions,
    stand_in: StandInTikHub,
    tmp_path: Path,
) -> None:
    slot = first_slot()
    ids = await add_tasks(sessions, 10, slot)
    # A budget the catch-up burst exceeds: most of its jobs are deferred at least once.
    env = collector_env(own_settings, stand_in.server_address[1], rate_per_second=4)
    scheduler_log, collector_log = tmp_path / "scheduler.log", tmp_path / "collector.log"

    async with stopped_after(await spawn_collector(env, collector_log)) as collector:
        scheduler = await spawn_scheduler(scheduler_env(own_settings), scheduler_log)
        await until_every_task_has(sessions, ids, slot)
        scheduler.kill()
        await scheduler.wait()
        # Down past the next slot and the one after: its catch-up job is already older than
        # an interval when it is queued.
        catch_up = slot + timedelta(seconds=INTERVAL)
        restart_at = catch_up + timedelta(seconds=INTERVAL + 1)
        await asyncio.sleep(max(0.0, (restart_at - utcnow()).total_seconds()))
        deferrals_before = collector_log.read_text().count('"collector.deferred"')
        async with stopped_after(await spawn_scheduler(scheduler_env(own_settings), scheduler_log)):
            await until_every_task_has(sessions, ids, catch_up)
        assert collector.returncode is None

    found = await rows_by_task(sessions)
    assert_all_live(found)
    for task_id in ids:
        assert [s for s, _ in found[task_id]][:2] == [slot, catch_up]
    # The catch-up rows are live although their jobs waited for the rate budget.
    assert collector_log.read_text().count('"collector.deferred"') > deferrals_before


@pytest.fixture
def own_mariadb(tmp_path: Path) -> Iterator[MariaDBServer]:
    server = MariaDBServer(tmp_path / "mariadb", free_port())
    server.directory.mkdir()
    yield server
    server.stop()


async def test_mariadb_killed_for_20_s_costs_no_restart_and_no_slot_twice(
    settings: Settings,
    own_redis: RedisServer,
    own_mariadb: MariaDBServer,
    stand_in: StandInTikHub,
    tmp_path: Path,
) -> None:
    await own_mariadb.install()
    own_mariadb.start()
    await own_mariadb.wait_ready()
    own = settings.model_copy(
        update={"redis_url": own_redis.url, "database_url": own_mariadb.database_url("faults")}
    )
    await asyncio.to_thread(migrate.upgrade, own.database_url)
    engine = create_engine(own, pool_size=2)
    sessions = create_session_factory(engine)
    env = collector_env(own, stand_in.server_address[1], rate_per_second=100)
    scheduler_log, collector_log = tmp_path / "scheduler.log", tmp_path / "collector.log"
    try:
        slot = first_slot()
        ids = await add_tasks(sessions, 5, slot)
        async with (
            stopped_after(await spawn_scheduler(scheduler_env(own), scheduler_log)) as sched,
            stopped_after(await spawn_collector(env, collector_log)) as collector,
        ):
            await until_every_task_has(sessions, ids, slot)
            own_mariadb.kill()
            await asyncio.sleep(20)
            own_mariadb.start()
            await own_mariadb.wait_ready()
            # The slot due during the outage is caught up once MariaDB is back.
            await until_every_task_has(sessions, ids, slot + timedelta(seconds=INTERVAL))
            await logged_times(scheduler_log, "scheduler.recovered")
            assert (sched.returncode, collector.returncode) == (None, None)

        found = await rows_by_task(sessions)
        assert_all_live(found)
        for task_id in ids:
            slots = [s for s, _ in found[task_id]]
            assert len(slots) == len(set(slots))
        async with sessions() as session:
            health = set(await session.scalars(select(Task.health)))
        assert health == {TaskHealth.OK}
    finally:
        await engine.dispose()
