"""`python -m services.api tasks import FILE | export`: the bulk create and the tag export from
a terminal, with progress and line numbers on stderr."""

import argparse
import asyncio
import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from services.api.tasks_command import add_tasks_parser, run_tasks_command
from shared.models import Task, TaskType
from shared.settings import Settings
from tests.api.support import Sessions, add_influencer_points, learn_user_id


def run(settings: Settings, *argv: str) -> tuple[int, bytes, str]:
    parser = argparse.ArgumentParser()
    add_tasks_parser(parser.add_subparsers(dest="command"))
    out, progress = io.BytesIO(), io.StringIO()
    code = run_tasks_command(settings, parser.parse_args(argv), out=out, progress=progress)
    return code, out.getvalue(), progress.getvalue()


async def test_import_monitors_each_line_once_and_names_the_bad_ones(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> None:
    listing = tmp_path / "creators.txt"
    listing.write_text("# the spring campaign\nnatgeo\n@NASA\n\nnot a name!\nNatGeo\n")

    code, _, progress = await asyncio.to_thread(
        run, settings, "tasks", "import", str(listing), "--interval", "1d", "--tag", "Spring"
    )

    assert code == 0
    assert "line 5: not a name!:" in progress
    assert "4/4 lines: 2 created, 0 already monitored, 1 invalid" in progress
    async with sessions() as session:
        tasks = list(await session.scalars(select(Task).order_by(Task.username)))
    assert [(t.username, t.interval_seconds) for t in tasks] == [("nasa", 86400), ("natgeo", 86400)]

    again, _, progress = await asyncio.to_thread(run, settings, "tasks", "import", str(listing))
    assert again == 0
    # A target named twice in one file counts once.
    assert "0 created, 2 already monitored, 1 invalid" in progress


async def test_export_writes_every_tagged_task_and_refuses_an_unknown_tag(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> None:
    listing = tmp_path / "creators.txt"
    listing.write_text("natgeo\n")
    await asyncio.to_thread(run, settings, "tasks", "import", str(listing), "--tag", "spring")
    async with sessions() as session:
        (task,) = await session.scalars(select(Task).where(Task.task_type == TaskType.INFLUENCER))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    await learn_user_id(sessions, task.id, 787132, start)
    await add_influencer_points(sessions, task.id, user_id=787132, start=start, count=3)

    code, out, progress = await asyncio.to_thread(
        run, settings, "tasks", "export", "--tag", "spring"
    )

    assert code == 0
    rows = list(csv.reader(io.StringIO(out.decode(), newline="")))
    assert rows[0][:2] == ["username", "recorded_at"]
    assert [row[0] for row in rows[1:]] == ["natgeo"] * 3
    assert "1 influencer tasks with the tag 'spring' exported (4 lines)" in progress
    missing, _, progress = await asyncio.to_thread(
        run, settings, "tasks", "export", "--tag", "autumn"
    )
    assert missing == 1
    assert "No influencer task has the tag 'autumn'" in progress
