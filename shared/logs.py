"""Structured logging for every process: one line per event, secrets scrubbed."""

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog
from sqlalchemy.engine import make_url

from shared.settings import Settings

REDACTED = "[REDACTED]"


class SecretScrubber:
    """Replaces any registered secret wherever it appears in an event's values.

    The code never logs a key on purpose; this catches the accidental paths, such as an
    upstream error body that echoes the Authorization header back.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = {secret for secret in secrets if len(secret) >= 4}

    def scrub(self, text: str) -> str:
        """The text with every registered secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if self.secrets:
            for key, value in event.items():
                if isinstance(value, str):
                    event[key] = self.scrub(value)
                elif isinstance(value, BaseException):
                    event[key] = self.scrub(repr(value))
        return event


def settings_secrets(settings: Settings) -> list[str]:
    """The TikHub keys and any passwords in the connection URLs: what no log line may hold."""
    candidates = [
        *settings.tikhub_key_pool(),
        make_url(settings.database_url).password,
        urlsplit(settings.redis_url).password,
    ]
    return [str(secret) for secret in candidates if secret]


def _orjson_text(event: Any, **options: Any) -> str:
    return orjson.dumps(event, **options).decode()


def configure_logging(settings: Settings, service: str, *, secrets: Iterable[str] = ()) -> None:
    """Log as the settings say: LOG_LEVEL and LOG_FORMAT."""
    configure_output(
        service, level=settings.log_level, log_format=settings.log_format, secrets=secrets
    )


def configure_output(
    service: str, *, level: str, log_format: str, secrets: Iterable[str] = ()
) -> None:
    """Route structlog and the standard library's logging to stdout as one stream."""
    renderer: Any
    logger_factory: Any
    if log_format == "json":
        # orjson renders a line several times faster than json, and the API writes one per
        # request; it makes bytes, so structlog's own lines go to stdout's byte stream.
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        foreign_renderer: Any = structlog.processors.JSONRenderer(serializer=_orjson_text)
        logger_factory = structlog.BytesLoggerFactory(sys.stdout.buffer)
    else:
        renderer = foreign_renderer = structlog.dev.ConsoleRenderer(colors=False)
        logger_factory = structlog.PrintLoggerFactory(sys.stdout)
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        SecretScrubber(secrets),
    ]
    structlog.configure(
        processors=[*shared_processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                foreign_renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared_processors],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
