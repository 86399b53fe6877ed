"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.auth import ApiKeyAuth, document_api_keys
from services.api.body_limit import BodyLimitMiddleware
from services.api.error_handlers import install_error_handlers
from services.api.metrics import ApiMetrics
from services.api.request_context import RequestContextMiddleware
from services.api.responses import error_docs
from services.api.routes import operations
from services.api.routes.alerting import alerts_router, webhooks_router
from services.api.routes.monitors import INFLUENCERS, POSTS, monitor_router
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
    protected = settings.api_auth == "required"
    responses = error_docs(401, 429) if protected else {}
    for monitor in (INFLUENCERS, POSTS):
        app.include_router(monitor_router(monitor), responses=responses)
    for router in (webhooks_router, alerts_router):
        app.include_router(router, responses=responses)
    app.include_router(operations.router)
    # Each middleware added wraps the ones before it. The request context is outermost, so
    # every response, even a 401 or a 413, is logged, counted and carries a request id.
    if protected:
        app.add_middleware(ApiKeyAuth)
        document_api_keys(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.api_max_body_bytes,
        timeout_seconds=settings.api_body_timeout_seconds,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
