"""`python -m services.scheduler` as a real process: dispatches, probes healthy, stops cleanly."""

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from services.scheduler.health import check, heartbeat_for
from shared.models import Task, utcnow
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.scheduler.support import WAIT_LIMIT_SECONDS, Sessions, insert_tasks, queued_jobs, until


def scheduler_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "SCHEDULER_METRICS_PORT": "0",
        "SCHEDULER_BATCH_SIZE": "100",
        "SCHEDULER_TICK_SECONDS": "0.1",
        "LOG_FORMAT": "json",
    }


async def run_check(settings: Settings) -> int:
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.scheduler",
        "--check",
        env=scheduler_env(settings),
        stdout=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(probe.wait(), WAIT_LIMIT_SECONDS)


async def has_queued_jobs(redis: Redis, keys: RedisKeys) -> bool:
    return bool(await redis.zcard(keys.collector_queue))


async def has_heartbeat(settings: Settings, redis: Redis) -> bool:
    return await heartbeat_for(settings, redis).age() is not None


async def test_a_running_scheduler_probes_healthy_dispatches_and_stops_cleanly_on_sigterm(
    settings: Settings, keys: RedisKeys, scheduler_sessions: Sessions, queue_redis: Redis
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.scheduler",
        env=scheduler_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await until(lambda: has_heartbeat(settings, queue_redis))
        assert await run_check(settings) == 0
        # Tasks appear while it runs; the stop arrives while it is working through them.
        slot = utcnow() - timedelta(seconds=1)
        await insert_tasks(scheduler_sessions, 5_000, next_run_at=slot, interval_seconds=3600)
        await until(lambda: has_queued_jobs(queue_redis, keys))
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), WAIT_LIMIT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, output.decode()
    events = [json.loads(line)["event"] for line in output.splitlines()]
    assert events[0] == "scheduler.started"
    assert events[-2:] == ["scheduler.stopping", "scheduler.stopped"]
    # Every slot it queued was committed as done, and no task moved on without its job.
    async with scheduler_sessions() as session:
        advanced = set(await session.scalars(select(Task.id).where(Task.next_run_at > slot)))
    assert {job.args[0] for job in await queued_jobs(queue_redis, keys)} == advanced
    assert not await check(settings)
