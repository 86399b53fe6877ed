"""The Redis pause flags the collector checks before it does any work for a task."""

from collections.abc import Sequence

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.errors import ServiceUnavailable
from shared.redis_keys import RedisKeys

log = structlog.get_logger()


class PauseFlags:
    """Sets and clears pause flags; says 503 when Redis cannot record the change."""

    def __init__(self, redis: "Redis", keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def set(self, task_ids: Sequence[str]) -> None:
        """Flag these tasks as paused; raise ServiceUnavailable when Redis does not answer."""
        if not task_ids:
            return
        try:
            await self.redis.mset({self.keys.pause(task_id): b"1" for task_id in task_ids})
        except RedisError as error:
            raise _unavailable(error) from error

    async def clear(self, task_ids: Sequence[str]) -> None:
        """Remove the flags of these tasks; raise ServiceUnavailable when Redis does not answer."""
        if not task_ids:
            return
        try:
            await self.redis.delete(*(self.keys.pause(task_id) for task_id in task_ids))
        except RedisError as error:
            raise _unavailable(error) from error

    async def clear_if_possible(self, task_ids: Sequence[str]) -> None:
        """Remove the flags, or log that they stay (for stopped tasks, which need none)."""
        # A stopped task is skipped for its status alone, and creating it again clears its flag.
        try:
            await self.clear(task_ids)
        except ServiceUnavailable:
            log.warning("api.pause_flags_kept", task_count=len(task_ids))


def _unavailable(error: RedisError) -> ServiceUnavailable:
    log.warning("api.redis_unavailable", error=repr(error))
    return ServiceUnavailable(
        "Redis is not answering, so the task's pause flag cannot be changed; retry shortly.",
        code="redis_unavailable",
    )
