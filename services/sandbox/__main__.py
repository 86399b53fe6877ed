"""`python -m services.sandbox`: serve the fake TikHub until SIGTERM or Ctrl+C."""

import sys

import structlog

from services.sandbox.app import create_app
from services.sandbox.settings import SandboxSettings
from shared.logs import configure_output
from shared.serving import serve

log = structlog.get_logger("services.sandbox")


def main() -> int:
    """Run the sandbox server on the configured host and port."""
    settings = SandboxSettings()
    configure_output("sandbox", level=settings.log_level, log_format=settings.log_format)
    knobs = settings.fault_knobs()
    log.info(
        "sandbox.starting",
        host=settings.host,
        port=settings.port,
        api_key_required=bool(settings.api_key.get_secret_value()),
        epoch=settings.epoch,
        **knobs.model_dump(),
    )
    started = serve(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )
    log.info("sandbox.stopped")
    return 0 if started else 1


if __name__ == "__main__":
    sys.exit(main())
