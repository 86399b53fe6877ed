"""`python -m services.api`: serve the REST API in the foreground (stops cleanly on SIGTERM)."""

import uvicorn

from services.api.app import create_app
from shared.logs import configure_logging, settings_secrets
from shared.settings import Settings


def main() -> None:
    """Read the settings, configure logging, and serve with uvloop and httptools."""
    settings = Settings()
    configure_logging(settings, "api", secrets=settings_secrets(settings))
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        # Logging is ours (configure_logging); each request is logged once, as api.request.
        log_config=None,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
