"""`python -m services.sandbox`: serve the fake TikHub until SIGTERM or Ctrl+C."""

import logging
import signal
import sys
from types import FrameType
from typing import Any

import structlog
import uvicorn

from services.sandbox.app import create_app
from services.sandbox.settings import SandboxSettings

log = structlog.get_logger("services.sandbox")


def configure_logging(settings: SandboxSettings) -> None:
    """One structured line per event on stdout, uvicorn's own lines included."""
    level = logging.getLevelName(settings.log_level)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared_processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared_processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared_processors],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main() -> int:
    """Run the sandbox server on the configured host and port."""
    settings = SandboxSettings()
    configure_logging(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            # Keep the root handler configured above instead of uvicorn's plain-text one.
            log_config=None,
            log_level=settings.log_level.lower(),
            # The debug line of RequestContextMiddleware replaces the access log, which
            # would cost a line per call at benchmark rates.
            access_log=False,
            server_header=False,
            # With uvicorn's 5 s default, server and client (httpx also expires idle
            # connections after 5 s) race to close, and a client that reuses a connection
            # the server just closed sees "server disconnected". Outlast the client instead.
            timeout_keep_alive=65,
        )
    )

    def request_shutdown(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # Uvicorn handles SIGTERM/SIGINT itself (graceful shutdown), then restores the previous
    # handlers and raises the signal again; with Python's defaults that would kill the process
    # with -15 (or a KeyboardInterrupt) after an otherwise clean stop. This handler makes the
    # re-raise harmless, and also covers a signal that arrives before uvicorn is listening.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_shutdown)
    knobs = settings.fault_knobs()
    log.info(
        "sandbox.starting",
        host=settings.host,
        port=settings.port,
        api_key_required=bool(settings.api_key.get_secret_value()),
        epoch=settings.epoch,
        **knobs.model_dump(),
    )
    server.run()
    log.info("sandbox.stopped")
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
