"""History imports: points from a CSV or NDJSON file (another tracker's export, or ours) stored
for a monitored target with `source = "imported"`, never in place of a point already stored."""

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from services.api.export import KINDS, ExportFormat
from services.api.history import target_named, task_of
from services.api.history_window import parse_utc_time
from shared.models import Source, TaskType, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.driver import DriverReads
from shared.repositories.history import HistoryRepository
from shared.repositories.tasks import TaskRecord

log = structlog.get_logger()

MAX_IMPORT_POINTS = 100_000
# Points per transaction: each batch commits on its own, so the roll-up buckets it updates
# are locked (against the collector's writes of the same target) for a short while only.
IMPORT_BATCH_POINTS = 5000
# A batch whose insert met a concurrent import of the same points is checked and tried again.
IMPORT_ATTEMPTS = 3
TEXT_FIELDS = frozenset({"bio"})
IGNORED_FIELDS = frozenset({"source"})
# BIGINT's range: the counts' column type.
MAX_COUNT = 2**63 - 1
# MySQL's TEXT holds 65,535 bytes.
MAX_TEXT_BYTES = 65_535
# Clocks disagree a little; a point further ahead than this cannot have been recorded yet.
FUTURE_TOLERANCE = timedelta(minutes=5)
MEDIA_TYPES = {
    "text/csv": ExportFormat.CSV,
    "application/x-ndjson": ExportFormat.NDJSON,
    "application/ndjson": ExportFormat.NDJSON,
}


@dataclass
class ImportReport:
    """What an import did: points stored, points whose time already had one (or that the file
    repeats), and the lines that could not be read."""

    imported: int = 0
    skipped: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)


class InvalidLine(ValueError):
    """A line of the file that holds no importable point; the message says why."""


# A file's records: the line each starts on, and its fields or why that line holds no point.
Records = Iterator[tuple[int, Mapping[str, Any] | InvalidLine]]


def import_format(content_type: str | None) -> ExportFormat:
    """The format a Content-Type names, or a 415."""
    media_type, _, parameters = (content_type or "").partition(";")
    found = MEDIA_TYPES.get(media_type.strip().lower())
    charset = next(
        (
            value.strip().strip('"').lower()
            for name, _, value in (p.partition("=") for p in parameters.split(";"))
            if name.strip().lower() == "charset"
        ),
        "utf-8",
    )
    if found is None or charset not in {"utf-8", "utf8"}:
        raise UnsupportedMediaType(
            "Send the points as text/csv or application/x-ndjson, in UTF-8.",
            details={"content_type": content_type},
        )
    return found


class ImportService:
    """Validates a file's points and stores them in batches, then drops the target's cached
    history view as the collector does after its writes."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], redis: "Redis", keys: RedisKeys
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.keys = keys

    async def import_points(
        self, kind: TaskType, name: str, body: bytes, content_type: str | None
    ) -> ImportReport:
        """Import the file's points into the history of the target `name` names."""
        export_format = import_format(content_type)
        async with self.sessions() as session:
            task = await task_of(await DriverReads.of_session(session), target_named(kind, name))
        fields = tuple(f for f in KINDS[kind].export_fields if f not in IGNORED_FIELDS)
        # Counted before anything is stored: a file over the limit, or with bytes that are not
        # UTF-8, imports nothing.
        try:
            points = sum(1 for _ in _records(export_format, body, fields))
        except UnicodeDecodeError:
            raise InvalidInput(
                "The body is not UTF-8 text; save the file as UTF-8.", code="invalid_encoding"
            ) from None
        if points > MAX_IMPORT_POINTS:
            raise PayloadTooLarge(
                f"The body holds {points:,} points; an import takes at most "
                f"{MAX_IMPORT_POINTS:,} points per request: split the file.",
                code="too_many_points",
                details={"points": points, "max_points": MAX_IMPORT_POINTS},
            )
        records = _records(export_format, body, fields)
        report = ImportReport()
        try:
            await self._store(task, kind, fields, records, report)
        finally:
            if report.imported:
                await self._invalidate(task)
        log.info(
            "api.history_imported",
            task_id=task.id,
            imported=report.imported,
            skipped=report.skipped,
            invalid=len(report.invalid),
        )
        return report

    async def _store(
        self,
        task: TaskRecord,
        kind: TaskType,
        fields: Sequence[str],
        records: Records,
        report: ImportReport,
    ) -> None:
        seen: set[datetime] = set()
        batch: list[dict[str, Any]] = []
        for line, record in records:
            try:
                if isinstance(record, InvalidLine):
                    raise record
                point = _point(record, fields)
            except InvalidLine as problem:
                report.invalid.append({"line": line, "message": str(problem)})
                continue
            if point["recorded_at"] in seen:  # the file repeats a time
                report.skipped += 1
                continue
            seen.add(point["recorded_at"])
            batch.append(_row(task, kind, point))
            if len(batch) == IMPORT_BATCH_POINTS:
                await self._store_batch(task, batch, report)
                batch = []
        await self._store_batch(task, batch, report)

    async def _store_batch(
        self, task: TaskRecord, batch: Sequence[dict[str, Any]], report: ImportReport
    ) -> None:
        if not batch:
            return
        model = KINDS[task.task_type].model
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            try:
                async with self.sessions.begin() as session:
                    stored = await HistoryRepository(session).add_imported_points(
                        model, task.id, batch
                    )
                break
            except IntegrityError:
                if attempt == IMPORT_ATTEMPTS:
                    raise
        report.imported += stored
        report.skipped += len(batch) - stored

    async def _invalidate(self, task: TaskRecord) -> None:
        # Keyed as the collector keys it: a profile by Instagram id (none before its first
        # collection, and then nothing is cached), a post by shortcode.
        if task.task_type is TaskType.POST:
            key = self.keys.post_history(task.target)
        elif task.user_id is not None:
            key = self.keys.influencer_history(task.user_id)
        else:
            return
        try:
            await self.redis.delete(key)
        except RedisError as error:
            # The cached view then lasts until its TTL (the task's interval) at most.
            log.warning("api.history_cache_unavailable", error=repr(error))


def _records(export_format: ExportFormat, body: bytes, fields: Sequence[str]) -> Records:
    """The file's records, each with the line it starts on, or why that line holds none."""
    if export_format is ExportFormat.CSV:
        return _csv_records(_text_of(body, newline=""), fields)
    return _ndjson_records(_text_of(body, newline="\n"))


def _text_of(body: bytes, *, newline: str) -> io.TextIOWrapper:
    # Decoded as it is read, so the body is never held a second time as one (up to four times
    # larger) string. utf-8-sig: spreadsheet programs start their CSV files with a byte order
    # mark.
    return io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline=newline)


def _csv_records(text: io.TextIOWrapper, fields: Sequence[str]) -> Records:
    # newline="": the csv module reads line breaks inside quoted fields itself.
    reader = csv.reader(text)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidInput(
            f"The body is empty; its first line names the columns, such as {','.join(fields)}.",
            code="invalid_header",
        ) from None
    except csv.Error as error:
        raise InvalidInput(
            f"Line 1 (the header) cannot be read: {error}.", code="invalid_header"
        ) from None
    _check_header(header, fields)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield start, InvalidLine(f"cannot be read as CSV: {error}")
            if reader.line_num < start:
                return
            continue
        if not any(cell.strip() for cell in row):
            continue  # a blank line holds no point
        if len(row) != len(header):
            yield start, InvalidLine(f"has {len(row)} fields; the header names {len(header)}")
            continue
        yield start, dict(zip(header, row, strict=True))


def _check_header(header: Sequence[str], fields: Sequence[str]) -> None:
    known = {*fields, *IGNORED_FIELDS}
    unknown = [name for name in header if name not in known]
    repeated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown columns {', '.join(unknown)}")
    if repeated:
        problems.append(f"repeated columns {', '.join(repeated)}")
    if "recorded_at" not in header:
        problems.append("no recorded_at column")
    if problems:
        raise InvalidInput(
            f"The header line has {'; '.join(problems)}. Name the columns "
            f"{', '.join(fields)} (any order; all but recorded_at optional; source is ignored).",
            code="invalid_header",
            details={"columns": list(fields)},
        )


def _ndjson_records(text: io.TextIOWrapper) -> Records:
    # Lines end at line feeds only (newline="\n"): not at characters such as U+2028, which a
    # JSON string may hold as they are.
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield number, InvalidLine(f"is not JSON: {error}")
            continue
        if not isinstance(record, dict):
            yield number, InvalidLine("is not a JSON object")
            continue
        yield number, record


def _point(record: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """A record's point: its time in UTC and its values (None for an empty or absent one)."""
    unknown = [name for name in record if name not in fields and name not in IGNORED_FIELDS]
    if unknown:
        raise InvalidLine(f"has unknown fields {', '.join(unknown)}")
    point: dict[str, Any] = {"recorded_at": _recorded_at(record.get("recorded_at"))}
    for name in fields:
        if name != "recorded_at":
            point[name] = (_text if name in TEXT_FIELDS else _count_value)(name, record.get(name))
    if all(point[name] is None for name in fields if name != "recorded_at"):
        raise InvalidLine(f"has none of {', '.join(f for f in fields if f != 'recorded_at')}")
    return point


def _recorded_at(value: Any) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise InvalidLine("has no recorded_at")
    try:
        moment = parse_utc_time(value.strip())
    except ValueError as error:
        raise InvalidLine(f"recorded_at {error}") from None
    if moment > utcnow() + FUTURE_TOLERANCE:
        raise InvalidLine(f"recorded_at {value.strip()} is in the future")
    return moment


def _count_value(name: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise InvalidLine(f"{name} must be a whole number of at least 0, not {value!r}")
    if not 0 <= number <= MAX_COUNT:
        raise InvalidLine(f"{name} must be a whole number of at least 0, not {value!r}")
    return number


def _text(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidLine(f"{name} must be text")
    if len(value.encode()) > MAX_TEXT_BYTES:
        raise InvalidLine(f"{name} is longer than {MAX_TEXT_BYTES} bytes")
    return value


def _row(task: TaskRecord, kind: TaskType, point: Mapping[str, Any]) -> dict[str, Any]:
    common = {"task_id": task.id, "scheduled_for": None, "source": Source.IMPORTED, **point}
    if kind is TaskType.INFLUENCER:
        return {"user_id": task.user_id, "username": task.target, **common}
    return {"post_code": task.target, "post_id": task.post_id, **common}
