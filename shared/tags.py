"""Tags: the labels a client groups tasks by (api.md, "Task health and update")."""

import re

MAX_TAGS = 20
MAX_TAG_LENGTH = 50
# What a client may send; upper-case letters are stored lower-cased.
TAG_SCHEMA_PATTERN = rf"^[A-Za-z0-9_.:-]{{1,{MAX_TAG_LENGTH}}}$"
_TAG = re.compile(TAG_SCHEMA_PATTERN)


class InvalidTag(ValueError):
    """A tag outside the allowed characters or length; the message says which rule."""


def parse_tag(raw: str) -> str:
    """The tag as stored, lower-cased; InvalidTag unless 1 to 50 of `a-z 0-9 _ - . :`."""
    if not raw:
        raise InvalidTag("a tag cannot be empty")
    if len(raw) > MAX_TAG_LENGTH:
        raise InvalidTag(f"tag {raw!r} is longer than {MAX_TAG_LENGTH} characters")
    if _TAG.fullmatch(raw) is None:
        raise InvalidTag(f"tag {raw!r} may contain only letters, digits, '_', '-', '.' and ':'")
    return raw.lower()


def parse_tags(raw: list[str]) -> list[str]:
    """Each tag parsed, duplicates dropped, sorted; InvalidTag for a bad one or too many."""
    tags = sorted({parse_tag(tag) for tag in raw})
    if len(tags) > MAX_TAGS:
        raise InvalidTag(f"a task has at most {MAX_TAGS} tags, not {len(tags)}")
    return tags
