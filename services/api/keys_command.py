"""`python -m services.api keys create NAME | list | revoke NAME | verify`: manage API keys.

`create` prints the new key alone on stdout, once: only its SHA-256 is stored. `verify` reads
a key on stdin (so it stays out of the process list) and tells whether it is active. Exit
codes: 0 done (or active), 1 an invalid name, no key of that name (revoke) or a key that is
not active (verify), 3 the name is taken (create): a script can create a key on first start
and tell "already there" from a failure.
"""

import argparse
import asyncio
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TextIO

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.api_keys import hash_key, new_key
from services.api.rate_limit import CHECKED_TTL_SECONDS, UNKNOWN_TTL_SECONDS
from shared.db import create_engine, create_session_factory
from shared.models import ApiKey, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.api_keys import ApiKeyNameTaken, ApiKeyRepository
from shared.settings import Settings

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NAME_TAKEN = 3


def add_keys_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `keys` command and its three subcommands."""
    keys = commands.add_parser("keys", help="manage API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("name", help="who or what the key is for: letters, digits, '.', '_', '-'")
    actions.add_parser("list", help="list the keys (never the keys themselves)")
    revoke = actions.add_parser("revoke", help="revoke a key; requests with it are refused at once")
    revoke.add_argument("name")
    actions.add_parser("verify", help="exit 0 if the key given on stdin is active")


def run_keys_command(
    settings: Settings, arguments: argparse.Namespace, out: TextIO | None = None
) -> int:
    """Run one `keys` subcommand, printing to `out` (stdout by default); the exit code."""
    return asyncio.run(_run(settings, arguments, out or sys.stdout))


async def _run(settings: Settings, arguments: argparse.Namespace, out: TextIO) -> int:
    if arguments.action == "create":
        return await _create(settings, arguments.name, out)
    if arguments.action == "revoke":
        return await _revoke(settings, arguments.name, out)
    if arguments.action == "verify":
        return await _verify(settings, sys.stdin.read().strip(), out)
    async with _api_keys(settings) as keys:
        _print_table(await keys.list_all(), out)
    return EXIT_OK


@asynccontextmanager
async def _api_keys(settings: Settings) -> AsyncIterator[ApiKeyRepository]:
    """The key table, in one transaction committed at the end of the block."""
    engine = create_engine(settings, pool_size=1)
    try:
        async with create_session_factory(engine).begin() as session:
            yield ApiKeyRepository(session)
    finally:
        await engine.dispose()


async def _create(settings: Settings, name: str, out: TextIO) -> int:
    if not NAME_PATTERN.fullmatch(name):
        print("a key name is 1-100 letters, digits, '.', '_' or '-'", file=sys.stderr)
        return EXIT_FAILED
    key = new_key()
    try:
        async with _api_keys(settings) as keys:
            await keys.create(name, hash_key(key), now=utcnow())
    except ApiKeyNameTaken:
        print(
            f"an API key named {name!r} already exists (revoked keys keep their names); "
            "choose another name",
            file=sys.stderr,
        )
        return EXIT_NAME_TAKEN
    # The API refuses a key found unknown lately without asking MySQL, for UNKNOWN_TTL_SECONDS;
    # deleting that mark lets the new key in at once, even if it was tried before.
    await _forget_mark(
        settings,
        RedisKeys(settings.redis_prefix).api_key_unknown(hash_key(key)),
        f"the key may be refused for up to {UNKNOWN_TTL_SECONDS} s",
    )
    # Printed once committed, so a key that was shown always works.
    print(key, file=out)
    print(f"created API key {name!r}; this is the only time it is shown", file=sys.stderr)
    return EXIT_OK


async def _revoke(settings: Settings, name: str, out: TextIO) -> int:
    async with _api_keys(settings) as keys:
        revoked = await keys.revoke(name, now=utcnow())
    if revoked is None:
        print(f"there is no API key named {name!r}", file=sys.stderr)
        return EXIT_FAILED
    # Committed: MySQL now refuses the key. The API also trusts a key MySQL accepted lately,
    # for CHECKED_TTL_SECONDS; deleting that mark makes the revocation count at once.
    await _forget_mark(
        settings,
        RedisKeys(settings.redis_prefix).api_key_checked(revoked.key_hash),
        f"the key may keep working for up to {CHECKED_TTL_SECONDS} s",
    )
    print(f"revoked API key {name!r}", file=out)
    return EXIT_OK


async def _forget_mark(settings: Settings, mark: str, without_redis: str) -> None:
    """Delete the API's remembered verdict on a key, or say what its absence means."""
    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.delete(mark)
    except RedisError:
        print(f"Redis did not answer: {without_redis}", file=sys.stderr)
    finally:
        await redis.aclose()


async def _verify(settings: Settings, key: str, out: TextIO) -> int:
    async with _api_keys(settings) as keys:
        stored = await keys.get_by_hash(hash_key(key))
    if stored is None or stored.revoked_at is not None:
        print("the key is unknown or revoked", file=out)
        return EXIT_FAILED
    print(f"the key is active: {stored.name!r}", file=out)
    return EXIT_OK


def _print_table(keys: list[ApiKey], out: TextIO) -> None:
    rows = [("NAME", "CREATED", "LAST USED", "REVOKED")]
    for key in keys:
        rows.append(
            (
                key.name,
                _when(key.created_at),
                _when(key.last_used_at) if key.last_used_at else "never",
                _when(key.revoked_at) if key.revoked_at else "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)), file=out
        )


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}Z"
