"""The sandbox's FastAPI application, built from settings by `create_app`."""

import time
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.sandbox import admin, routes
from services.sandbox.envelope import error_body
from services.sandbox.faults import FaultInjector
from services.sandbox.middleware import RequestContextMiddleware
from services.sandbox.settings import SandboxSettings
from services.sandbox.state import SandboxState, sandbox_state


def create_app(settings: SandboxSettings, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """A sandbox app; `clock` lets tests pin the instant the metrics are computed for."""
    app = FastAPI(
        title="TikHub sandbox",
        summary="A deterministic fake of the TikHub Instagram API, with fault knobs.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.sandbox = SandboxState(
        settings=settings, faults=FaultInjector(settings.fault_knobs()), clock=clock
    )
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(RequestContextMiddleware)
    return app


async def _http_error(request: Request, error: Exception) -> Response:
    # Unknown paths and wrong methods get TikHub's error body, as the real API answers them.
    assert isinstance(error, StarletteHTTPException)
    state = sandbox_state(request)
    if request.url.path.startswith("/api/"):
        # A call to a path that does not exist is still a call the collector made.
        state.calls.record(path=request.url.path)
    body = error_body(
        status=error.status_code,
        message=str(error.detail),
        router=request.url.path,
        params=dict(request.query_params),
        now=state.clock(),
    )
    return Response(
        body,
        status_code=error.status_code,
        headers=error.headers,
        media_type="application/json",
    )
