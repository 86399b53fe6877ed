"""`python -m services.api`: serve the REST API in the foreground (stops cleanly on SIGTERM).

`python -m services.api keys create NAME | list | revoke NAME` manages the API keys instead.
"""

import argparse
import sys

import uvicorn

from services.api.app import create_app
from services.api.keys_command import add_keys_parser, run_keys_command
from shared.logs import configure_logging, settings_secrets
from shared.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Serve, or run a `keys` command; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m services.api", description=__doc__)
    add_keys_parser(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(argv)
    settings = Settings()
    if arguments.command == "keys":
        return run_keys_command(settings, arguments)
    serve(settings)
    return 0


def serve(settings: Settings) -> None:
    """Configure logging, then serve with uvloop and httptools until SIGTERM."""
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
    sys.exit(main())
