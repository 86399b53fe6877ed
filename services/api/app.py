"""The FastAPI application factory."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from services.api.auth import authenticate
from services.api.body_limit import BodyLimitMiddleware
from services.api.error_handlers import install_error_handlers
from services.api.fast_reads import FastHistoryReads
from services.api.metrics import ApiMetrics
from services.api.request_context import RequestContextMiddleware
from services.api.responses import error_docs
from services.api.routes import influencers, operations, posts
from services.api.runtime import open_runtime
from shared.settings import Settings

DESCRIPTION = """
Monitors Instagram profiles and posts on an interval and serves the history of their counts.

Every response is an envelope: `{"status_code", "success": true, "data"}` on success,
`{"status_code", "success": false, "error": {"code", "message", "details"}}` on failure.
Times are ISO-8601 UTC with `Z`.
"""


def create_app(settings: Settings) -> FastAPI:
    """The API app; its lifespan opens MySQL and Redis and closes them at shutdown."""
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, metrics) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Instagram Monitor",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # The probes, /metrics and the docs stay open: orchestrators and scrapers hold no key.
    protected = settings.api_auth == "required"
    dependencies = [Depends(authenticate)] if protected else []
    responses = error_docs(401, 429) if protected else {}
    for router in (influencers.router, posts.router):
        app.include_router(router, dependencies=dependencies, responses=responses)
    app.include_router(operations.router)
    # Each middleware added wraps the ones before it. The fast reads run inside the request
    # context, so their answers are logged, counted and carry a request id; that context is
    # outermost, so every response, even a 413, carries one.
    app.add_middleware(
        FastHistoryReads,
        influencer_route=_route(influencers.router, influencers.user_history),
        post_route=_route(posts.router, posts.video_history),
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def _route(router: APIRouter, endpoint: Callable[..., Any]) -> APIRoute:
    return next(
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint == endpoint
    )
