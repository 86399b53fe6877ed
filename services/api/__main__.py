"""`python -m services.api`: serve the REST API in the foreground (stops cleanly on SIGTERM).

`python -m services.api keys create NAME | list | revoke NAME` manages the API keys instead;
`python -m services.api tasks import FILE | export --tag TAG` works on many tasks at once.
"""

import argparse
import sys

from services.api.app import create_app
from services.api.keys_command import add_keys_parser, run_keys_command
from services.api.tasks_command import add_tasks_parser, run_tasks_command
from shared.logs import configure_logging, settings_secrets
from shared.serving import serve
from shared.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Serve, or run a `keys` or `tasks` command; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m services.api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    add_keys_parser(commands)
    add_tasks_parser(commands)
    arguments = parser.parse_args(argv)
    settings = Settings()
    if arguments.command == "keys":
        return run_keys_command(settings, arguments)
    if arguments.command == "tasks":
        return run_tasks_command(settings, arguments)
    configure_logging(settings, "api", secrets=settings_secrets(settings))
    # Each request is logged once, as api.request, by the app itself.
    started = serve(create_app(settings), host=settings.api_host, port=settings.api_port)
    return 0 if started else 1


if __name__ == "__main__":
    sys.exit(main())
