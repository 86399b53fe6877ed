"""Cache hits of the history routes' default views, answered before FastAPI's routing.

A hit is the API's most frequent request and its cheapest answer: a Redis read. Resolving the
route, its dependencies and its five query parameters cost more than that read, so this step
answers a hit itself, and only a hit:

- it sits inside the authentication step (the caller is admitted and charged as for any route)
  and inside the request context (logged and counted under the route's own template);
- it takes only a `GET` without a query string (the default view), matched by the route's own
  path matcher, and asks the routes' history service for the cached view, nothing else;
- anything else, a miss included, goes on to the route, which answers it as always (a miss
  thus reads Redis twice: a small cost next to the MySQL read that follows).
"""

from dataclasses import dataclass
from typing import cast

from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.dependencies import history_service_of
from services.api.responses import JSON
from services.api.runtime import Runtime
from shared.models import TaskType


@dataclass(frozen=True, slots=True)
class HistoryRoute:
    """A history route and what its path parameter names."""

    route: APIRoute
    kind: TaskType
    parameter: str


class CachedHistoryReads:
    """Answers the default view of a history route from the cache when it is there."""

    def __init__(self, app: ASGIApp, *, routes: list[HistoryRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            for history in self.routes:
                match, child_scope = history.route.matches(scope)
                if match is not Match.FULL:
                    continue
                runtime = cast(Runtime, scope["app"].state.runtime)
                body = await history_service_of(runtime).cached_default_view(
                    history.kind, child_scope["path_params"][history.parameter]
                )
                if body is not None:
                    scope["route"] = history.route  # the request's label in logs and metrics
                    await Response(body, media_type=JSON)(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)
