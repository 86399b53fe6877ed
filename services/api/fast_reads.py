"""The hot reads, answered before FastAPI routes the request.

Dashboards and scripts poll the newest points of a history: the default view (no query
string), cached in Redis, or `?limit=N`. FastAPI's routing, dependency resolution and parameter
validation cost several times such a read, so this middleware answers them itself: the default
view from the Redis cache, any other `limit` from the history pages in MySQL (PageReader).
Everything else (a cache miss, any other query string, a username, a path the app would refuse,
a key not vouched for lately, an exhausted rate limit, Redis or MySQL failing, a target without
points) goes on to the app, which stays the one place that validates input, fills the cache and
explains errors. What the middleware learned travels with the request in its state: the app
neither takes a second token from the key's budget nor asks a failing Redis again.
"""

import re
from dataclasses import dataclass
from typing import cast

import structlog
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.api_keys import hash_key
from services.api.auth import offered_key
from services.api.history import instagram_id_of
from services.api.history_cache import cached_body
from services.api.history_window import DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT
from services.api.rate_limit import RateDecision
from services.api.request_context import (
    CACHE_MISSED,
    RATE_DECISION,
    REDIS_FAILED,
    add_response_headers,
)
from services.api.responses import JSON
from services.api.runtime import Runtime
from shared.instagram import InvalidInstagramInput, parse_shortcode
from shared.models import TaskType

log = structlog.get_logger()

# The one query string answered here besides none: a plain limit (the app explains the rest).
PLAIN_LIMIT = re.compile(rb"limit=([1-9][0-9]{0,3})")


@dataclass(frozen=True, slots=True)
class Target:
    """A history path this middleware can answer."""

    route: APIRoute
    kind: TaskType
    key: int | str  # the Instagram id or the post code
    cache_key: str


class FastHistoryReads:
    """Answers GETs of the two history routes for the newest points of an id or post code."""

    def __init__(self, app: ASGIApp, *, influencer_route: APIRoute, post_route: APIRoute) -> None:
        self.app = app
        self.influencer_route = influencer_route
        self.post_route = post_route
        # The routes' paths up to their one parameter, e.g. ".../user_history/".
        self.influencer_prefix = influencer_route.path.partition("{")[0]
        self.post_prefix = post_route.path.partition("{")[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            limit = _plain_limit(scope["query_string"])
            if limit is not None and await self._answered(scope, receive, send, limit):
                return
        await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, receive: Receive, send: Send, limit: int) -> bool:
        runtime = cast(Runtime, scope["app"].state.runtime)
        target = self._target(scope["path"], runtime)
        if target is None:
            return False
        try:
            if limit == DEFAULT_HISTORY_LIMIT:
                body = await self._from_cache(scope, runtime, target)
            else:
                body = await self._from_pages(scope, runtime, target, limit)
        except RedisError as error:
            log.warning("api.history_cache_unavailable", error=repr(error))
            runtime.metrics.history_cache.labels(target.kind, "error").inc()
            scope.setdefault("state", {})[REDIS_FAILED] = error
            return False
        if body is None:
            return False
        scope["route"] = target.route  # the request's metrics and log line name the route
        await Response(body, media_type=JSON)(scope, receive, send)
        return True

    def _target(self, path: str, runtime: Runtime) -> Target | None:
        if path.startswith(self.influencer_prefix):
            # By id only: a username needs MySQL to find the id that names the cached view.
            instagram_id = instagram_id_of(path.removeprefix(self.influencer_prefix))
            if instagram_id is None:
                return None
            key = runtime.keys.influencer_history(instagram_id)
            return Target(self.influencer_route, TaskType.INFLUENCER, instagram_id, key)
        if path.startswith(self.post_prefix):
            try:
                code = parse_shortcode(path.removeprefix(self.post_prefix))
            except InvalidInstagramInput:
                return None
            key = runtime.keys.post_history(code)
            return Target(self.post_route, TaskType.POST, code, key)
        return None

    async def _from_cache(self, scope: Scope, runtime: Runtime, target: Target) -> bytes | None:
        """The cached default view; on a miss the app counts it and takes the lease without
        reading again."""
        if runtime.settings.api_auth != "required":
            value = await runtime.batcher.get(target.cache_key)
        else:
            key = await offered_key(HTTPConnection(scope))
            if not key:
                return None  # the app answers 401
            decision, value = await runtime.rate_limiter.take_and_get(
                hash_key(key), target.cache_key
            )
            if not _admitted(scope, decision):
                return None
        body = cached_body(value)
        if body is None:
            scope.setdefault("state", {})[CACHE_MISSED] = target.cache_key
            return None
        runtime.metrics.history_cache.labels(target.kind, "hit").inc()
        return body

    async def _from_pages(
        self, scope: Scope, runtime: Runtime, target: Target, limit: int
    ) -> bytes | None:
        """Another number of the newest points, from the pages in MySQL."""
        if runtime.settings.api_auth == "required":
            key = await offered_key(HTTPConnection(scope))
            if not key or not _admitted(scope, await runtime.rate_limiter.take(hash_key(key))):
                return None
        if isinstance(target.key, int):
            return await runtime.page_reader.influencer(target.key, limit)
        return await runtime.page_reader.post(target.key, limit)


def _plain_limit(query_string: bytes) -> int | None:
    """The limit of a query string that holds nothing else (none: the default)."""
    if not query_string:
        return DEFAULT_HISTORY_LIMIT
    found = PLAIN_LIMIT.fullmatch(query_string)
    if found is None:
        return None
    limit = int(found.group(1))
    return limit if limit <= MAX_HISTORY_LIMIT else None


def _admitted(scope: Scope, decision: RateDecision | None) -> bool:
    """Whether a key's rate-limit decision lets the request through here; the decision goes
    with the request, so the app neither asks again nor charges the key twice."""
    if decision is None:
        return False  # not checked lately: the app asks MySQL, then takes the token
    state = scope.setdefault("state", {})
    state[RATE_DECISION] = decision
    add_response_headers(scope, decision.headers())
    return decision.allowed  # over the limit: the app answers 429
