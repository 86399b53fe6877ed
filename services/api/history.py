"""History reads: the default view through the Redis cache, any other view from MySQL."""

from typing import Annotated, Any

import orjson
from fastapi import Path
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.errors import InvalidInput, NotFound
from services.api.history_cache import HistoryCache
from services.api.history_window import HistoryWindow
from shared.instagram import (
    SHORTCODE_SCHEMA_PATTERN,
    USERNAME_TEXT,
    InvalidInstagramInput,
    parse_shortcode,
    parse_username,
)
from shared.models import Task, TaskType
from shared.redis_keys import RedisKeys
from shared.repositories.history import HistoryRepository
from shared.repositories.tasks import TaskRepository

# Instagram ids are stored as BIGINT UNSIGNED; a longer number cannot be one.
MAX_INSTAGRAM_ID = 2**64 - 1
# The longest user id, username or post code a history path takes (with leading zeros, an id
# may be longer than its 20 digits).
MAX_TARGET_LENGTH = 64
# An id (leading zeros allowed) below 10**19, so always within MAX_INSTAGRAM_ID, or a username.
USER_SCHEMA_PATTERN = f"^(?:0*[1-9][0-9]{{0,18}}|{USERNAME_TEXT})$"

# The patterns are published, not enforced: the parsers' messages say more than a mismatch.
UserPath = Annotated[
    str,
    Path(
        max_length=MAX_TARGET_LENGTH,
        description="The numeric Instagram user id, or the username",
        examples=["25025320", "instagram"],
        json_schema_extra={"pattern": USER_SCHEMA_PATTERN},
    ),
]
PostCodePath = Annotated[
    str,
    Path(
        max_length=MAX_TARGET_LENGTH,
        description="The post's shortcode, as in instagram.com/p/<code>/ (case matters)",
        examples=["CxYQJO8xuC6"],
        json_schema_extra={"pattern": SHORTCODE_SCHEMA_PATTERN},
    ),
]


class HistoryService:
    """Answers history reads with the exact JSON bytes of the success envelope.

    Reads change nothing, so they need no unit of work: a session is opened only when the
    cache cannot answer, which keeps a cache hit free of any database machinery.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], cache: HistoryCache, keys: RedisKeys
    ) -> None:
        self.sessions = sessions
        self.cache = cache
        self.keys = keys

    async def influencer(self, user: str, window: HistoryWindow) -> bytes:
        """A profile's history, by numeric Instagram id or username."""
        instagram_id = instagram_id_of(user)
        lease = None
        # By id, a cached view answers without touching MySQL (ids come before usernames).
        if window.is_default and instagram_id is not None:
            cached, lease = await self.cache.get_or_lease(
                self.keys.influencer_history(instagram_id), TaskType.INFLUENCER
            )
            if cached is not None:
                return cached
        async with self.sessions() as session:
            task = await _influencer_task(TaskRepository(session), user, instagram_id)
            if task.user_id is None:
                # Not collected yet, so no rows; the cache is keyed by the id, still unknown.
                return encode_success({"username": task.target, "history": []})
            key = self.keys.influencer_history(task.user_id)
            if window.is_default and task.user_id != instagram_id:
                cached, lease = await self.cache.get_or_lease(key, TaskType.INFLUENCER)
                if cached is not None:
                    return cached
            points = await HistoryRepository(session).influencer_points_json(
                task.user_id, limit=window.limit, since=window.since, until=window.until
            )
        body = encode_success({"username": task.target, "history": orjson.Fragment(points)})
        if window.is_default:
            await self.cache.put(key, body, lease=lease, ttl_seconds=task.interval_seconds)
        return body

    async def post(self, post_code: str, window: HistoryWindow) -> bytes:
        """A post's history, by shortcode."""
        try:
            code = parse_shortcode(post_code)
        except InvalidInstagramInput as error:
            raise InvalidInput.for_field("post_code", str(error)) from error
        key = self.keys.post_history(code)
        lease = None
        if window.is_default:
            cached, lease = await self.cache.get_or_lease(key, TaskType.POST)
            if cached is not None:
                return cached
        async with self.sessions() as session:
            task = await TaskRepository(session).get_by_target(TaskType.POST, code)
            if task is None:
                raise NotFound(f"No post task monitors {code}.", code="task_not_found")
            points = await HistoryRepository(session).post_points_json(
                code, limit=window.limit, since=window.since, until=window.until
            )
        body = encode_success({"post_code": code, "history": orjson.Fragment(points)})
        if window.is_default:
            await self.cache.put(key, body, lease=lease, ttl_seconds=task.interval_seconds)
        return body


async def _influencer_task(tasks: TaskRepository, user: str, instagram_id: int | None) -> Task:
    if instagram_id is not None:
        task = await tasks.get_by_user_id(instagram_id)
        if task is not None:
            return task
    try:
        username = parse_username(user)
    except InvalidInstagramInput as error:
        raise InvalidInput.for_field("user_id", str(error)) from error
    task = await tasks.get_by_target(TaskType.INFLUENCER, username)
    if task is None:
        raise _unknown_user(user)
    return task


def instagram_id_of(user: str) -> int | None:
    """The numeric Instagram id that `user` spells, or None (then it may be a username)."""
    if len(user) > MAX_TARGET_LENGTH or not (user.isascii() and user.isdigit()):
        return None
    number = int(user)
    return number if 0 < number <= MAX_INSTAGRAM_ID else None


def encode_success(data: dict[str, Any]) -> bytes:
    """A 200 success envelope around `data` as JSON, byte for byte what pydantic would write for
    the routes' response models (Envelope[InfluencerHistory] / Envelope[PostHistory]).

    The history comes already encoded from the repository (an orjson.Fragment) instead of being
    validated through those models: the rows come from our own tables, and validating 1,000
    points cost more than reading them.
    """
    envelope = {"status_code": 200, "success": True, "data": data}
    return orjson.dumps(envelope, option=orjson.OPT_UTC_Z)


def _unknown_user(user: str) -> NotFound:
    return NotFound(
        f"No influencer task watches the Instagram id or username {user}.",
        code="task_not_found",
    )
