"""Rebuild the roll-ups from the history rows: `python -m shared.rollups rebuild`.

Each task is rebuilt in a transaction of its own, so the collector, which updates the same
buckets as it writes rows, waits for one task at a time at most. Running it again gives the
same buckets: they are a function of the rows.
"""

import asyncio
import sys

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import create_engine, create_session_factory
from shared.models import TaskType
from shared.repositories.rollups import INFLUENCER_ROLLUP, POST_ROLLUP, RollupRepository
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

ROLLUP_OF = {TaskType.INFLUENCER: INFLUENCER_ROLLUP, TaskType.POST: POST_ROLLUP}


async def rebuild(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Recompute every task's roll-ups from its rows; return how many tasks were rebuilt."""
    rebuilt = 0
    for task_type, rollup in ROLLUP_OF.items():
        async with sessions() as session:
            task_ids = [task.id for task in await TaskRepository(session).list_by_type(task_type)]
        for task_id in task_ids:
            async with sessions.begin() as session:
                await RollupRepository(session).rebuild(rollup, task_id)
            rebuilt += 1
    return rebuilt


async def main(settings: Settings) -> str:
    """Rebuild against the configured database; the sentence that says what was done."""
    engine = create_engine(settings)
    try:
        rebuilt = await rebuild(create_session_factory(engine))
    finally:
        await engine.dispose()
    return f"roll-ups rebuilt for {rebuilt} tasks"


if __name__ == "__main__":
    if sys.argv[1:] != ["rebuild"]:
        sys.exit("usage: python -m shared.rollups rebuild")
    print(asyncio.run(main(Settings())), flush=True)
