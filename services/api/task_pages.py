"""Paging of the task lists: the `limit` and `cursor` query parameters, and the next page's
link (RFC 8288)."""

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated

from fastapi import Query
from starlette.datastructures import URL

from services.api.errors import InvalidInput
from shared.repositories.tasks import PagePosition, TaggedTask

MAX_PAGE_SIZE = 1000

PageSizeQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Answer one page of at most this many tasks; the next page's URL is then "
        'in the `Link` header (`rel="next"`), absent on the last page. Without it, every task.',
        examples=[50],
    ),
]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Where a page starts: copy it from the previous page's `Link` header",
    ),
]


def encode_cursor(position: PagePosition) -> str:
    """An opaque cursor for the page after `position`."""
    raw = json.dumps([position.created_at.isoformat(), position.task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> PagePosition:
    """The position a cursor of `encode_cursor` holds; InvalidInput for anything else."""
    try:
        created_at, task_id = json.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
        position = PagePosition(datetime.fromisoformat(created_at), str(task_id))
        if position.created_at.tzinfo is None:
            raise ValueError("a cursor's time is UTC")
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as error:
        raise InvalidInput.for_field(
            "cursor", "not a cursor this API gave; copy it from the Link header"
        ) from error
    return position


def next_page_link(url: URL, page: list[TaggedTask], limit: int) -> str | None:
    """The `Link` header value of the page after `page`, or None when `page` is the last."""
    if len(page) <= limit:
        return None
    last = page[limit - 1].task
    cursor = encode_cursor(PagePosition(last.created_at, last.id))
    return f'<{url.include_query_params(cursor=cursor)}>; rel="next"'
