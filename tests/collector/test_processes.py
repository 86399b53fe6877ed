"""Two real `python -m services.collector` processes sharing one Redis and one TikHub budget."""

import asyncio
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from arq.connections import ArqRedis
from redis.asyncio import Redis

from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import Source, TaskType
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.collector.processes import DEADLINE_SECONDS, StandInTikHub, collector_env, wait_for
from tests.collector.support import (
    Sessions,
    influencer_rows,
    make_task,
    slot_now,
)

RATE_PER_SECOND = 20
TASKS = 40
WORKERS = 2


async def test_two_processes_together_stay_within_the_rate_limit(
    settings: Settings,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    stand_in: StandInTikHub,
    tmp_path: Path,
) -> None:
    env = collector_env(settings, stand_in.server_address[1], rate_per_second=RATE_PER_SECOND)
    logs = [tmp_path / f"collector-{n}.log" for n in range(WORKERS)]
    with ExitStack() as files:
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.collector",
                env=env,
                stdout=files.enter_context(log.open("wb")),
                stderr=subprocess.STDOUT,
            )
            for log in logs
        ]
        probe, exit_codes = await run_until_collected(workers, env, logs, sessions, redis, keys)

    assert exit_codes == [0] * WORKERS
    assert probe.returncode == 0, probe.stdout
    assert "alive" in probe.stdout
    assert {row.source for row in await influencer_rows(sessions)} == {Source.LIVE}
    # Each process did part of the work...
    assert all(log.read_text().count('"collector.collected"') > 0 for log in logs)
    # ...and together they never went faster than the shared budget: n calls spaced 1/rate
    # apart span at least (n - 1) / rate seconds. The slack absorbs scheduling jitter.
    arrivals = sorted(stand_in.arrivals)
    assert len(arrivals) == TASKS
    span = arrivals[-1] - arrivals[0]
    assert len(arrivals) <= RATE_PER_SECOND * span + 3


async def run_until_collected(
    workers: list[asyncio.subprocess.Process],
    env: dict[str, str],
    logs: list[Path],
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Queue every task's job once both workers are up; probe them; stop them."""
    try:

        async def both_started() -> bool:
            return all("collector.started" in log.read_text() for log in logs)

        await wait_for(both_started, "both collectors to start")
        slot = slot_now()
        pool = ArqRedis(connection_pool=redis.connection_pool)
        for n in range(TASKS):
            task = await make_task(sessions, TaskType.INFLUENCER, f"user{n}")
            job_id = collect_job_id(task.id, slot)
            await pool.enqueue_job(
                COLLECT_FUNCTION, task.id, slot, _job_id=job_id, _queue_name=keys.collector_queue
            )

        async def all_collected() -> bool:
            return len(await influencer_rows(sessions)) == TASKS

        await wait_for(all_collected, f"{TASKS} history rows")
        check = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.collector",
            "--check",
            env=env,
            stdout=subprocess.PIPE,
        )
        output, _ = await asyncio.wait_for(check.communicate(), DEADLINE_SECONDS)
        probe = subprocess.CompletedProcess(
            "collector --check", check.returncode or 0, output.decode()
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        exit_codes = [await asyncio.wait_for(worker.wait(), DEADLINE_SECONDS) for worker in workers]
    return probe, exit_codes
