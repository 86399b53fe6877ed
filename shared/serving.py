"""Serving an ASGI app in the foreground, as the API and the sandbox do."""

import gc
import signal
from types import FrameType
from typing import Any

import uvicorn

# Allocations (minus deallocations) between collections of the youngest generation.
YOUNGEST_GENERATION_THRESHOLD = 10_000
# How long an idle keep-alive connection stays open. With uvicorn's 5 s default, server and
# client (httpx also expires idle connections after 5 s) race to close, and a client that
# reuses a connection the server just closed sees "server disconnected" (a script's POST to
# the API failed so under load). Outlast the client instead.
KEEP_ALIVE_SECONDS = 65


def serve(app: Any, *, host: str, port: int, **options: Any) -> bool:
    """Serve until SIGTERM or Ctrl-C, then shut down gracefully; False if it never started."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            # Logging is configured by shared.logs; uvicorn's own set-up would replace it.
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            **options,
        )
    )

    def request_shutdown(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # Uvicorn handles SIGTERM/SIGINT itself, then restores the previous handlers and raises
    # the signal again; with Python's defaults that kills the process with -15 (or a
    # KeyboardInterrupt) after an otherwise clean stop. This handler makes the re-raise
    # harmless, and also covers a signal that arrives before uvicorn is listening.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_shutdown)
    # What exists by now (modules, the app and its routes) lives as long as the process; frozen,
    # it is no longer walked by every full garbage collection, which a server handling many
    # large responses at once triggers often (a third more uncached history reads per second).
    gc.freeze()
    # A 1,000-point history read allocates thousands of short-lived containers (a row tuple
    # and a dict per point); at the default threshold (700) they set off several collections
    # per request, each also walking the rows of every other request in flight: measured, a
    # tenth of such a read's CPU, saved by collecting less often.
    gc.set_threshold(YOUNGEST_GENERATION_THRESHOLD)
    server.run()
    return bool(server.started)
