"""Pause flags re-derived from MySQL when Redis has lost them (restarted empty, failover)."""

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository


class PauseFlagRestorer:
    """Sets the flag of every paused task once per Redis data set, marked by a key of its own.

    The collector also reads each task's status from MySQL, so a lost flag never lets a paused
    task run; restoring the flags keeps paused tasks from costing a database read per job.
    """

    def __init__(
        self, redis: Redis, keys: RedisKeys, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.sessions = sessions

    async def restore_if_lost(self) -> int | None:
        """Restore the flags if Redis has no mark of having them; how many, or None."""
        if await self.redis.exists(self.keys.pause_flags_restored):
            return None
        async with self.sessions.begin() as session:
            # Share-locked until the flags are set: a resume meanwhile waits, then clears its
            # task's flag after this one was set, never before.
            paused = await TaskRepository(session).paused_ids()
            async with self.redis.pipeline(transaction=True) as pipe:
                for task_id in paused:
                    pipe.set(self.keys.pause(task_id), b"1")
                pipe.set(self.keys.pause_flags_restored, b"1")
                await pipe.execute()
        return len(paused)
