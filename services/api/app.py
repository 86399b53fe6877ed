"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from services.api.auth import authenticate
from services.api.body_limit import BodyLimitMiddleware
from services.api.error_handlers import install_error_handlers
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
    # Added last, so outermost: every response, even a 413, carries the request id.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    # The probes, /metrics and the docs stay open: orchestrators and scrapers hold no key.
    protected = settings.api_auth == "required"
    dependencies = [Depends(authenticate)] if protected else []
    responses = error_docs(401, 429) if protected else {}
    for router in (influencers.router, posts.router):
        app.include_router(router, dependencies=dependencies, responses=responses)
    app.include_router(operations.router)
    return app
