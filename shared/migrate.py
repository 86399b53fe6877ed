"""Bring the database schema up to date: `python -m shared.migrate [revision]`."""

import asyncio
import functools
import logging
import sys
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import make_url

from shared.settings import Settings

# Notes MariaDB sends while migrating, which asyncmy logs as warnings though nothing is wrong:
# it ignores the name Alembic gives its version table's primary key, and CREATE DATABASE IF NOT
# EXISTS finds the database there.
HARMLESS_NOTES = ("ignored for PRIMARY key", "database exists")


def _not_a_harmless_note(record: logging.LogRecord) -> bool:
    return not any(note in record.getMessage() for note in HARMLESS_NOTES)


def _quiet_harmless_notes() -> None:
    logging.getLogger("asyncmy").addFilter(_not_a_harmless_note)


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
    _quiet_harmless_notes()
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database down to `revision` ("base" drops every table)."""
    command.downgrade(alembic_config(database_url), revision)


def main(database_url: str, revision: str) -> str:
    """Create and migrate the database; the sentence that says which one, and what was done."""
    # Imported here: shared.db asks this module for the head revision when it checks a schema.
    from shared.db import ensure_database

    url = make_url(database_url)
    where = f"database {url.database} on {url.host}:{url.port or 3306} as {url.username}"
    _quiet_harmless_notes()
    created = asyncio.run(ensure_database(database_url))
    upgrade(database_url, revision)
    target = head_revision() if revision == "head" else revision
    return f"{where}: {'created and ' if created else ''}migrated to revision {target}"


if __name__ == "__main__":
    print(main(Settings().database_url, sys.argv[1] if len(sys.argv) > 1 else "head"), flush=True)
