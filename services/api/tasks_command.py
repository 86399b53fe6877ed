"""`python -m services.api tasks import FILE | export`: bulk work on tasks from a terminal.

`import` monitors every username (or post URL) of a file, one a line (blank lines and lines
starting with `#` are skipped), through the same bulk create as `create_monitor_tasks`, 1,000
lines at a time, with a progress line per batch on stderr and every line that names nothing
listed with its line number. `export` writes the history of every task with a tag as one CSV
or NDJSON file (stdout, or `--output`), as `GET /{kind}/export?tag=` does. Exit codes: 0 done,
1 bad input (an unreadable file, a bad tag, no task with the tag).
"""

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from redis.asyncio import Redis

from services.api.errors import NotFound
from services.api.export import ExportFile, ExportFormat, ExportService
from services.api.history_window import DEFAULT_HISTORY_LIMIT, Granularity, history_window
from services.api.pause_flags import PauseFlags
from services.api.tasks import TaskService
from shared.db import create_engine, create_session_factory
from shared.instagram import parse_post_url, parse_username
from shared.intervals import Interval
from shared.models import TaskType
from shared.redis_keys import RedisKeys
from shared.schemas import MAX_BULK_INPUTS
from shared.settings import Settings
from shared.tags import InvalidTag, parse_tag, parse_tags

EXIT_OK = 0
EXIT_FAILED = 1
# How each kind's file names its targets, as the bulk create reads them.
PARSERS: dict[TaskType, Callable[[str], str]] = {
    TaskType.INFLUENCER: parse_username,
    TaskType.POST: parse_post_url,
}
# Every so many points, the export says how far it got.
EXPORT_PROGRESS_POINTS = 100_000


def add_tasks_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `tasks` command and its two subcommands."""
    tasks = commands.add_parser("tasks", help="bulk work on tasks: import a list, export by tag")
    actions = tasks.add_subparsers(dest="action", required=True)
    kinds = [kind.value for kind in TaskType]
    load = actions.add_parser("import", help="monitor every username or post URL of a file")
    load.add_argument("file", type=Path, help="one username (or post URL) a line; - for stdin")
    load.add_argument("--kind", choices=kinds, default=TaskType.INFLUENCER.value)
    load.add_argument("--interval", choices=[i.value for i in Interval], default="1h")
    load.add_argument("--tag", action="append", help="a tag for every task (repeatable)")
    dump = actions.add_parser("export", help="the history of every task with a tag, as a file")
    dump.add_argument("--tag", required=True)
    dump.add_argument("--kind", choices=kinds, default=TaskType.INFLUENCER.value)
    dump.add_argument("--format", choices=[f.value for f in ExportFormat], default="csv")
    dump.add_argument("--granularity", choices=[g.value for g in Granularity], default="raw")
    dump.add_argument("--output", type=Path, help="the file to write (default: stdout)")


def run_tasks_command(
    settings: Settings,
    arguments: argparse.Namespace,
    *,
    out: BinaryIO | None = None,
    progress: TextIO | None = None,
) -> int:
    """Run one `tasks` subcommand; the exit code. Progress and problems go to `progress`
    (stderr by default), an export to `out` (stdout by default) unless --output names a file."""
    report = progress or sys.stderr
    try:
        if arguments.action == "import":
            return asyncio.run(_import(settings, arguments, report))
        return asyncio.run(_export(settings, arguments, out or sys.stdout.buffer, report))
    except (InvalidTag, OSError) as error:
        print(f"error: {error}", file=report)
        return EXIT_FAILED


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """The file's targets with their line numbers: blank lines and # comments left out."""
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            yield number, entry


async def _import(settings: Settings, arguments: argparse.Namespace, report: TextIO) -> int:
    kind = TaskType(arguments.kind)
    tags = None if arguments.tag is None else parse_tags(arguments.tag)
    text = sys.stdin.read() if str(arguments.file) == "-" else arguments.file.read_text()
    lines = list(numbered_lines(text))
    engine = create_engine(settings, pool_size=1)
    redis = Redis.from_url(settings.redis_url)
    flags = PauseFlags(redis, RedisKeys(settings.redis_prefix))
    sessions = create_session_factory(engine)
    totals = {"created": 0, "existing": 0, "invalid": 0}
    try:
        for start in range(0, len(lines), MAX_BULK_INPUTS):
            batch = lines[start : start + MAX_BULK_INPUTS]
            first_line: dict[str, int] = {}
            for number, entry in batch:
                first_line.setdefault(entry, number)
            async with sessions.begin() as session:
                outcome = await TaskService(session, flags).create_many(
                    kind,
                    [entry for _, entry in batch],
                    PARSERS[kind],
                    Interval(arguments.interval),
                    tags,
                )
            totals["created"] += len(outcome.created)
            totals["existing"] += len(outcome.existing)
            totals["invalid"] += len(outcome.invalid)
            for invalid in outcome.invalid:
                print(
                    f"line {first_line[invalid.input]}: {invalid.input}: {invalid.message}",
                    file=report,
                )
            done = start + len(batch)
            print(
                f"{done:,}/{len(lines):,} lines: {totals['created']:,} created, "
                f"{totals['existing']:,} already monitored, {totals['invalid']:,} invalid",
                file=report,
                flush=True,
            )
    finally:
        await redis.aclose()
        await engine.dispose()
    if not lines:
        print("no usernames or post URLs in the file", file=report)
    return EXIT_OK


async def _export(
    settings: Settings, arguments: argparse.Namespace, out: BinaryIO, report: TextIO
) -> int:
    kind = TaskType(arguments.kind)
    tag = parse_tag(arguments.tag)
    engine = create_engine(settings, pool_size=1)
    service = ExportService(create_session_factory(engine))
    try:
        try:
            tasks = await service.tagged(kind, tag)
        except NotFound as error:
            print(f"error: {error.message}", file=report)
            return EXIT_FAILED
        window = history_window(
            DEFAULT_HISTORY_LIMIT, None, None, Granularity(arguments.granularity)
        )
        export = ExportFile(kind, tasks, window, ExportFormat(arguments.format), several=True)
        target = arguments.output.open("wb") if arguments.output else out
        lines = 0
        reported = 0
        try:
            async for chunk in service.stream(export):
                target.write(chunk)
                lines += chunk.count(b"\n")
                if lines - reported >= EXPORT_PROGRESS_POINTS:
                    reported = lines
                    print(f"{lines:,} lines written", file=report, flush=True)
        finally:
            if arguments.output:
                target.close()
    finally:
        await engine.dispose()
    print(
        f"{len(tasks):,} {kind} tasks with the tag {tag!r} exported ({lines:,} lines)", file=report
    )
    return EXIT_OK
