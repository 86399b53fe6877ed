"""A real collector process outliving its Redis: down at start, then killed and restarted empty."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.collector.arq_worker import CollectorWorker, create_collector_worker
from services.collector.worker import REDIS_BACKOFF, WorkerSettings
from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import TaskType
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.collector.processes import (
    RedisServer,
    StandInTikHub,
    collector_env,
    free_port,
    logged_times,
    spawn_collector,
    stopped_after,
    wait_for,
)
from tests.collector.support import Sessions, influencer_rows, make_task, slot_now

WAIT_SECONDS = 15


@pytest.fixture
def redis_port() -> int:
    return free_port()


@pytest.fixture
def own_redis(redis_port: int) -> Iterator[RedisServer]:
    server = RedisServer(redis_port)
    yield server
    server.stop()


@asynccontextmanager
async def collector_process(
    env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    async with stopped_after(await spawn_collector(env, log)) as process:
        yield process


async def logged(log: Path, event: str, *, times: int = 1) -> None:
    await logged_times(log, event, times=times, seconds=WAIT_SECONDS)


async def test_the_collector_waits_for_redis_and_collects_again_after_it_restarts_empty(
    settings: Settings,
    sessions: Sessions,
    stand_in: StandInTikHub,
    own_redis: RedisServer,
    tmp_path: Path,
) -> None:
    own = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{own_redis.port}/0"})
    env = collector_env(own, stand_in.server_address[1], rate_per_second=100)
    log = tmp_path / "collector.log"
    keys = RedisKeys(own.redis_prefix)
    tasks = [await make_task(sessions, TaskType.INFLUENCER, f"user{n}") for n in range(2)]

    async def enqueue_and_collect(task_id: str, rows: int) -> None:
        redis = Redis.from_url(own.redis_url)
        try:
            slot = slot_now()
            await ArqRedis(connection_pool=redis.connection_pool).enqueue_job(
                COLLECT_FUNCTION,
                task_id,
                slot,
                _job_id=collect_job_id(task_id, slot),
                _queue_name=keys.collector_queue,
            )
        finally:
            await redis.aclose()

        async def collected() -> bool:
            return len(await influencer_rows(sessions)) == rows

        await wait_for(collected, f"{rows} history rows", seconds=WAIT_SECONDS)

    async with collector_process(env, log) as collector:
        # Redis is not there yet: the process waits for it instead of exiting.
        await logged(log, "collector.redis_unavailable")
        own_redis.start()
        await logged(log, "collector.started")
        await enqueue_and_collect(tasks[0].id, rows=1)

        own_redis.kill()
        await logged(log, "collector.redis_unavailable", times=2)
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.collector", "--check", env=env, stdout=subprocess.PIPE
        )
        output, _ = await asyncio.wait_for(check.communicate(), WAIT_SECONDS)
        assert "Redis unreachable" in output.decode()
        own_redis.start()
        await logged(log, "collector.redis_recovered", times=2)
        await enqueue_and_collect(tasks[1].id, rows=2)
        assert collector.returncode is None

    assert collector.returncode == 0
    # Once per outage, not once per retry.
    assert log.read_text().count('"collector.redis_unavailable"') == 2


def one_job_worker(pool: ArqRedis) -> CollectorWorker:
    """The collector's worker on `pool`, running one job at a time, driven by the test."""
    return create_collector_worker(
        WorkerSettings,
        backoff=REDIS_BACKOFF,
        redis_pool=pool,
        max_jobs=1,
        handle_signals=False,
    )


async def test_a_redis_error_while_starting_a_job_gives_its_place_back(redis_port: int) -> None:
    unreachable = ArqRedis.from_url(f"redis://127.0.0.1:{redis_port}/0")
    worker = one_job_worker(unreachable)
    try:
        with pytest.raises(RedisConnectionError):
            await worker.start_jobs([b"collect:any:0"])
        assert worker.job_counter == 0
        assert not worker.sem.locked()
    finally:
        await unreachable.aclose()


async def test_a_connection_dropped_while_starting_a_job_leaves_the_worker_polling() -> None:
    async def redis_dropping_after_watch(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Just enough of Redis for arq's poll: one job due, then the connection is lost
        # between WATCH and the check that the job is not running elsewhere.
        try:
            while header := await reader.readline():
                words = [
                    (await reader.readline()) and (await reader.readline()).strip()
                    for _ in range(int(header[1:]))
                ]
                command = words[0].upper()
                if command == b"EXISTS":
                    return
                if command == b"ZRANGEBYSCORE":
                    writer.write(b"*1\r\n$13\r\ncollect:any:0\r\n")
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(redis_dropping_after_watch, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = ArqRedis.from_url(f"redis://127.0.0.1:{port}/0")
    worker = one_job_worker(pool)
    try:
        # redis-py reports the lost connection as a WatchError, not a ConnectionError.
        await worker._poll_iteration()
        assert worker.outage.failures == 1
        assert worker.job_counter == 0
        assert not worker.sem.locked()
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()
