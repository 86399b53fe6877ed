"""The hot read: a cached default history view, answered before FastAPI routes the request.

Dashboards poll the default view of a history (no query string), and a cache hit is a single
Redis read, yet FastAPI's routing, dependency resolution and parameter validation cost several
times that read. This middleware answers a hit straight from Redis. Everything else (a miss,
a query string, a path the app would refuse, a key not vouched for lately, an exhausted rate
limit, Redis failing) goes on to the app, which stays the one place that validates input and
explains errors. What the middleware learned travels with the request in its state: the app
neither takes a second token from the key's budget nor asks a failing Redis again.
"""

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


class CachedHistoryMiddleware:
    """Answers GETs of the two history routes without a query string from the Redis cache."""

    def __init__(self, app: ASGIApp, *, influencer_route: APIRoute, post_route: APIRoute) -> None:
        self.app = app
        self.influencer_route = influencer_route
        self.post_route = post_route
        # The routes' paths up to their one parameter, e.g. ".../user_history/".
        self.influencer_prefix = influencer_route.path.partition("{")[0]
        self.post_prefix = post_route.path.partition("{")[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and await self._answered_from_cache(scope, receive, send)
        ):
            return
        await self.app(scope, receive, send)

    async def _answered_from_cache(self, scope: Scope, receive: Receive, send: Send) -> bool:
        runtime = cast(Runtime, scope["app"].state.runtime)
        target = self._target(scope["path"], runtime)
        if target is None:
            return False
        route, kind, cache_key = target
        try:
            read, value = await self._read(scope, runtime, cache_key)
        except RedisError as error:
            log.warning("api.history_cache_unavailable", error=repr(error))
            runtime.metrics.history_cache.labels(kind, "error").inc()
            scope.setdefault("state", {})[REDIS_FAILED] = error
            return False
        body = cached_body(value)
        if body is None:
            if read:  # the app counts the miss and takes the lease without reading again
                scope.setdefault("state", {})[CACHE_MISSED] = cache_key
            return False
        runtime.metrics.history_cache.labels(kind, "hit").inc()
        scope["route"] = route  # the request's metrics and log line name the route template
        await Response(body, media_type=JSON)(scope, receive, send)
        return True

    def _target(self, path: str, runtime: Runtime) -> tuple[APIRoute, TaskType, str] | None:
        """The route, kind and cache key of a history path the cache can answer."""
        if path.startswith(self.influencer_prefix):
            # By id only: a username needs MySQL to find the id that names the cached view.
            instagram_id = instagram_id_of(path.removeprefix(self.influencer_prefix))
            if instagram_id is None:
                return None
            key = runtime.keys.influencer_history(instagram_id)
            return self.influencer_route, TaskType.INFLUENCER, key
        if path.startswith(self.post_prefix):
            try:
                code = parse_shortcode(path.removeprefix(self.post_prefix))
            except InvalidInstagramInput:
                return None
            return self.post_route, TaskType.POST, runtime.keys.post_history(code)
        return None

    async def _read(
        self, scope: Scope, runtime: Runtime, cache_key: str
    ) -> tuple[bool, bytes | None]:
        """Whether the key was read, and its value; with keys required, it is read only for
        a vouched-for key within its limit."""
        if runtime.settings.api_auth != "required":
            return True, await runtime.batcher.get(cache_key)
        key = await offered_key(HTTPConnection(scope))
        if not key:
            return False, None  # the app answers 401
        decision, value = await runtime.rate_limiter.take_and_get(hash_key(key), cache_key)
        if decision is None:
            return False, None  # not checked lately: the app asks MySQL, then takes the token
        scope.setdefault("state", {})[RATE_DECISION] = decision
        add_response_headers(scope, decision.headers())
        if not decision.allowed:
            return False, None  # over the limit: the app answers 429
        return True, value
