"""Loaded by schemathesis's CLI (SCHEMATHESIS_HOOKS): how to send the bodies it has no
serializer of its own for."""

from typing import Any

import schemathesis

# Not UTF-8: what a body that is not text (the schema wants a string) looks like on the wire.
NOT_TEXT = b"\xff\xfe"


@schemathesis.serializer("application/x-ndjson")
def ndjson(context: schemathesis.SerializationContext, value: Any) -> bytes:
    """An import's NDJSON body: a string as its UTF-8 bytes; any other value as bytes that are
    no text, which the API must refuse as such."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else NOT_TEXT
