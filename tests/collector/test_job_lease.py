"""A collector killed in the middle of a job: another collector runs the job again soon, once."""

import asyncio
import signal
import time
from pathlib import Path

from arq.connections import ArqRedis
from redis.asyncio import Redis

from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import TaskType
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.collector.processes import StandInTikHub, collector_env, spawn_collector, wait_for
from tests.collector.support import Sessions, influencer_rows, make_task, slot_now

LEASE_SECONDS = 2
WAIT_SECONDS = 15


async def start_collector(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    process = await spawn_collector(env, log)

    async def started() -> bool:
        return "collector.started" in await asyncio.to_thread(log.read_text)

    await wait_for(started, "the collector to start", seconds=WAIT_SECONDS)
    return process


async def test_a_killed_collectors_job_runs_again_on_another_within_the_lease(
    settings: Settings,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    stand_in: StandInTikHub,
    tmp_path: Path,
) -> None:
    env = {
        **collector_env(settings, stand_in.server_address[1], rate_per_second=100),
        "COLLECTOR_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    task = await make_task(sessions, TaskType.INFLUENCER, "user0")
    slot = slot_now()
    first = await start_collector(env, tmp_path / "first.log")
    stand_in.answering.clear()
    await ArqRedis(connection_pool=redis.connection_pool).enqueue_job(
        COLLECT_FUNCTION,
        task.id,
        slot,
        _job_id=collect_job_id(task.id, slot),
        _queue_name=keys.collector_queue,
    )

    async def in_flight() -> bool:
        return bool(stand_in.arrivals)

    await wait_for(in_flight, "the first collector's TikHub call", seconds=WAIT_SECONDS)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    killed_at = time.monotonic()
    stand_in.answering.set()
    second = await start_collector(env, tmp_path / "second.log")
    try:

        async def collected() -> bool:
            return len(await influencer_rows(sessions)) == 1

        await wait_for(collected, "the slot's row", seconds=WAIT_SECONDS)
        # arq alone would keep the job taken for its whole timeout (minutes).
        assert time.monotonic() - killed_at < LEASE_SECONDS + 8
        await asyncio.sleep(LEASE_SECONDS)
        assert len(await influencer_rows(sessions)) == 1
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), WAIT_SECONDS) == 0
