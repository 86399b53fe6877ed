"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from services.api.auth import ApiKeyAuth, document_api_keys
from services.api.body_limit import BodyLimit, BodyLimitMiddleware
from services.api.cached_reads import CachedHistoryReads, HistoryRoute
from services.api.error_handlers import install_error_handlers
from services.api.metrics import ApiMetrics
from services.api.request_context import RequestContextMiddleware
from services.api.responses import error_docs
from services.api.routes import operations, usage
from services.api.routes.alerting import alerts_router, webhooks_router
from services.api.routes.monitors import INFLUENCERS, POSTS, Monitor, monitor_router
from services.api.runtime import open_runtime
from services.api.web import pages as dashboard_pages
from services.api.web import routes as dashboard
from services.api.web.assets import mount_assets
from shared.settings import Settings

DESCRIPTION = """
Monitors Instagram profiles and posts on an interval and serves the history of their counts.

Every response is an envelope: `{"status_code", "success": true, "data"}` on success,
`{"status_code", "success": false, "error": {"code", "message", "details"}}` on failure.
Times are ISO-8601 UTC with `Z`.

The dashboard at `/` is a client of these routes: once signed in, the browser sends the key in
an HttpOnly cookie instead of a header. A request authenticated only by that cookie that is not
a GET must carry the `HX-Request` header the dashboard sends, or it is refused with 403
`cross_site_request`; other clients send the key in `X-API-Key` and never see that rule.
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
        # /docs is served from the installed Swagger UI (see mount_assets); ReDoc is not offered.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    protected = settings.api_auth == "required"
    responses = error_docs(401, 403, 429) if protected else {}
    routers = [(monitor, monitor_router(monitor)) for monitor in (INFLUENCERS, POSTS)]
    for _, router in routers:
        app.include_router(router, responses=responses)
    app.include_router(usage.router, responses=responses)
    for router in (webhooks_router, alerts_router):
        app.include_router(router, responses=responses)
    app.include_router(operations.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard_pages.router)
    mount_assets(app)
    # Each middleware added wraps the ones before it. The request context is outermost, so
    # every response, even a 401 or a 413, is logged, counted and carries a request id; cache
    # hits are answered innermost, after authentication.
    app.add_middleware(CachedHistoryReads, routes=history_routes(routers))
    if protected:
        app.add_middleware(ApiKeyAuth)
        document_api_keys(app)
    app.add_middleware(
        BodyLimitMiddleware,
        default=BodyLimit(settings.api_max_body_bytes, settings.api_body_timeout_seconds),
        imports=BodyLimit(
            settings.api_max_import_body_bytes, settings.api_import_body_timeout_seconds
        ),
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def history_routes(routers: list[tuple[Monitor, APIRouter]]) -> list[HistoryRoute]:
    """The history routes of both monitors, whose cache hits CachedHistoryReads answers."""
    found = []
    for monitor, router in routers:
        (route,) = (
            route
            for route in router.routes
            if isinstance(route, APIRoute) and route.name == monitor.history_route
        )
        found.append(HistoryRoute(route, monitor.task_type, monitor.history_parameter))
    return found
