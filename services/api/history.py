"""History reads: the default view through the Redis cache, any other view from MySQL's rows
(hourly and daily views from their roll-ups)."""

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.errors import InvalidInput, NotFound
from services.api.history_cache import HistoryCache
from services.api.history_window import HistoryWindow
from shared.instagram import InvalidInstagramInput, parse_shortcode, parse_username
from shared.models import TaskType
from shared.redis_keys import RedisKeys
from shared.repositories.driver import DriverReads, driver_reads
from shared.repositories.history import INFLUENCER_HISTORY, POST_HISTORY, HistoryReads
from shared.repositories.tasks import TaskRecord, task_by_target, task_by_user_id

# Instagram ids are stored as BIGINT UNSIGNED; a longer number cannot be one.
MAX_INSTAGRAM_ID = 2**64 - 1
# The longest user id, username or post code a history path takes (with leading zeros, an id
# may be longer than its 20 digits).
MAX_TARGET_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Target:
    """What a history read names: the cache key of its default view when known before MySQL
    is asked, and how to find its task."""

    kind: TaskType
    cache_key: str | None
    instagram_id: int | None
    name: str


class HistoryService:
    """Answers history reads with the exact JSON bytes of the success envelope.

    Reads change nothing, so they need no unit of work, nor an ORM session: a connection is
    checked out only when the cache cannot answer, which keeps a cache hit free of any database
    machinery, and a miss is read by the driver on it.
    """

    def __init__(self, engine: AsyncEngine, cache: HistoryCache, keys: RedisKeys) -> None:
        self.engine = engine
        self.cache = cache
        self.keys = keys

    async def influencer(self, user: str, window: HistoryWindow) -> bytes:
        """A profile's history, by numeric Instagram id or username."""
        return await self._read(target_named(TaskType.INFLUENCER, user, self.keys), window)

    async def post(self, post_code: str, window: HistoryWindow) -> bytes:
        """A post's history, by shortcode (case-sensitive, as Instagram's are)."""
        return await self._read(target_named(TaskType.POST, post_code, self.keys), window)

    async def cached_default_view(self, kind: TaskType, text: str) -> bytes | None:
        """The default view of the target a path names, when the cache holds it under the key
        the path itself names; None otherwise (the route then answers, misses included)."""
        try:
            target = target_named(kind, text, self.keys)
        except InvalidInput:
            return None
        if target.cache_key is None:
            return None
        return await self.cache.hit(target.cache_key, kind)

    async def _read(self, target: Target, window: HistoryWindow) -> bytes:
        lease = None
        # A view whose key the path names answers from the cache without touching MySQL.
        if window.is_default and target.cache_key is not None:
            cached, lease = await self.cache.get_or_lease(target.cache_key, target.kind)
            if cached is not None:
                return cached
        async with driver_reads(self.engine) as reads:
            try:
                task = await task_of(reads, target)
            except NotFound:
                if target.cache_key is not None:  # a key that no collector would ever delete
                    await self.cache.release(target.cache_key, lease)
                raise
            cache_key = self._cache_key(task)
            if cache_key is None:
                # A profile not collected yet: no rows, and no id to name its cached view by.
                return encode_history(task.task_type, task.target, b"[]")
            if window.is_default and cache_key != target.cache_key:
                cached, lease = await self.cache.get_or_lease(cache_key, target.kind)
                if cached is not None:
                    return cached
            kind = INFLUENCER_HISTORY if task.task_type is TaskType.INFLUENCER else POST_HISTORY
            points = await HistoryReads(reads).points_json(
                kind,
                task.id,
                limit=window.limit,
                since=window.since,
                until=window.until,
                grain=window.grain,
            )
        body = encode_history(task.task_type, task.target, points)
        if window.is_default:
            await self.cache.put(cache_key, body, lease=lease, ttl_seconds=task.interval_seconds)
        return body

    def _cache_key(self, task: TaskRecord) -> str | None:
        if task.task_type is TaskType.POST:
            return self.keys.post_history(task.target)
        return None if task.user_id is None else self.keys.influencer_history(task.user_id)


def target_named(kind: TaskType, name: str, keys: RedisKeys | None = None) -> Target:
    """The target a path names, to find its task by; with `keys`, also the cache key of its
    default view when the path names one. A 422 for a post code that cannot be one."""
    if kind is TaskType.POST:
        code = parse_post_code(name)
        return Target(kind, None if keys is None else keys.post_history(code), None, code)
    instagram_id = instagram_id_of(name)
    key = None if keys is None or instagram_id is None else keys.influencer_history(instagram_id)
    return Target(kind, key, instagram_id, name)


def parse_post_code(post_code: str) -> str:
    """The shortcode a path names, or a 422 naming the post_code parameter."""
    try:
        return parse_shortcode(post_code)
    except InvalidInstagramInput as error:
        raise InvalidInput.for_field("post_code", str(error)) from error


async def task_of(reads: DriverReads, target: Target) -> TaskRecord:
    """The task a path's target names (ids before usernames), or a 404."""
    if target.kind is TaskType.POST:
        task = await task_by_target(reads, TaskType.POST, target.name)
        if task is None:
            raise NotFound(f"No post task monitors {target.name}.", code="task_not_found")
        return task
    if target.instagram_id is not None:  # ids come before usernames
        task = await task_by_user_id(reads, target.instagram_id)
        if task is not None:
            return task
    try:
        username = parse_username(target.name)
    except InvalidInstagramInput as error:
        raise InvalidInput.for_field("user_id", str(error)) from error
    task = await task_by_target(reads, TaskType.INFLUENCER, username)
    if task is None:
        raise NotFound(
            f"No influencer task watches the Instagram id or username {target.name}.",
            code="task_not_found",
        )
    return task


def instagram_id_of(user: str) -> int | None:
    """The numeric Instagram id that `user` spells, or None (then it may be a username)."""
    if len(user) > MAX_TARGET_LENGTH or not (user.isascii() and user.isdigit()):
        return None
    number = int(user)
    return number if 0 < number <= MAX_INSTAGRAM_ID else None


def encode_history(kind: TaskType, target: str, points: bytes) -> bytes:
    """The 200 success envelope of the history of the task of `kind` watching `target`
    (`points`: its JSON array), byte for byte
    what pydantic would write for the routes' response models (Envelope[InfluencerHistory] /
    Envelope[PostHistory]).

    The points come already encoded from the repository instead of being validated through
    those models: the rows come from our own tables, and validating 1,000 points cost more
    than reading them.
    """
    field = "username" if kind is TaskType.INFLUENCER else "post_code"
    data: dict[str, Any] = {field: target, "history": orjson.Fragment(points)}
    return orjson.dumps({"status_code": 200, "success": True, "data": data})
