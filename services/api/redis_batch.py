"""Redis commands of concurrent requests sent together: one round trip per turn of the event loop.

Under load, dozens of requests wait on Redis at once, and sending each command alone costs more
of the API's CPU (a pool checkout, a write, a read, their timeouts) than the command itself. The
batcher queues what the requests of one turn of the event loop ask, then sends it all as one
pipeline, without MULTI. Each command still runs on its own and in order, after its request
arrived, so a request reads exactly what it would have read alone.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

# Queues one command on the pipeline.
Command = Callable[[Pipeline], object]


class RedisBatcher:
    """Sends the commands asked for in one turn of the event loop as one pipeline."""

    def __init__(self, redis: "Redis") -> None:
        self.redis = redis
        self.queued: list[tuple[Command, asyncio.Future[Any]]] = []
        # The pipelines in flight: the event loop keeps only weak references to tasks.
        self.sending: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> bytes | None:
        """The value under `key`, or None."""
        reply: bytes | None = await self._run(lambda pipeline: pipeline.get(key))
        return reply

    async def script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a registered script by its SHA-1; load it first if Redis has forgotten it."""
        try:
            return await self._run(
                lambda pipeline: pipeline.evalsha(script.sha, len(keys), *keys, *args)
            )
        except NoScriptError:  # Redis restarted or its scripts were flushed
            return await script(keys=keys, args=args)

    async def _run(self, command: Command) -> Any:
        loop = asyncio.get_running_loop()
        if not self.queued:
            loop.call_soon(self._send_queued)
        future: asyncio.Future[Any] = loop.create_future()
        self.queued.append((command, future))
        return await future

    def _send_queued(self) -> None:
        batch, self.queued = self.queued, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        pipeline = self.redis.pipeline(transaction=False)
        for command, _ in batch:
            command(pipeline)
        try:
            replies = await pipeline.execute(raise_on_error=False)
        except RedisError as error:
            replies = [error] * len(batch)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
