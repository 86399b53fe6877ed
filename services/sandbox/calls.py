"""Counts of the data calls the sandbox received, so tests can prove who called what."""

import hashlib
from collections import Counter

from pydantic import BaseModel


class CallCounts(BaseModel):
    """Data calls since start or the last reset; failed and refused calls count too."""

    total: int
    by_path: dict[str, int]
    by_username: dict[str, int]
    by_shortcode: dict[str, int]
    # By the first 16 hex digits of the SHA-256 of the Bearer token (the collector's fingerprint).
    by_key: dict[str, int]


class CallCounter:
    """Tallies data calls by path and by the username or shortcode asked about."""

    def __init__(self) -> None:
        self._total = 0
        self._by_path: Counter[str] = Counter()
        self._by_username: Counter[str] = Counter()
        self._by_shortcode: Counter[str] = Counter()
        self._by_key: Counter[str] = Counter()

    def record(
        self,
        *,
        path: str,
        username: str | None = None,
        shortcode: str | None = None,
        token: str | None = None,
    ) -> None:
        """Count one call to `path` about `username` or `shortcode` (if it named one), made
        with the Bearer `token` (if any)."""
        self._total += 1
        self._by_path[path] += 1
        if token is not None:
            self._by_key[hashlib.sha256(token.encode()).hexdigest()[:16]] += 1
        if username is not None:
            self._by_username[username] += 1
        if shortcode is not None:
            self._by_shortcode[shortcode] += 1

    def snapshot(self) -> CallCounts:
        """The counts so far."""
        return CallCounts(
            total=self._total,
            by_path=dict(self._by_path),
            by_username=dict(self._by_username),
            by_shortcode=dict(self._by_shortcode),
            by_key=dict(self._by_key),
        )

    def reset(self) -> None:
        """Start counting from zero."""
        self._total = 0
        self._by_path.clear()
        self._by_username.clear()
        self._by_shortcode.clear()
        self._by_key.clear()
