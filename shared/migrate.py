"""Bring the database schema up to date: `python -m shared.migrate [revision]`."""

import functools
import sys
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from shared.settings import Settings


def alembic_config(database_url: str) -> Config:
    """An Alembic config that needs no alembic.ini, so the installed package can migrate."""
    config = Config()
    config.set_main_option("script_location", str(files("shared") / "migrations"))
    config.attributes["database_url"] = database_url
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the migrations shipped with this code."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Create the database if needed and migrate it to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database down to `revision` ("base" drops every table)."""
    command.downgrade(alembic_config(database_url), revision)


if __name__ == "__main__":
    upgrade(Settings().database_url, sys.argv[1] if len(sys.argv) > 1 else "head")
    print("database schema is up to date", flush=True)
