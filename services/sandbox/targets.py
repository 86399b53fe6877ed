"""Reading the username or shortcode a caller asked about from its query parameters."""

import re

_USERNAME = re.compile(r"[a-z0-9._]{1,30}")
_SHORTCODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# /p/<code>, /reel/<code>, /reels/<code>, /tv/<code>, optionally after /<username>.
_SHORTCODE_IN_URL = re.compile(r"/(?:p|reels?|tv)/([A-Za-z0-9_-]{1,64})(?:[/?#]|$)")


def username_from(raw: str) -> str | None:
    """The normalised username (trimmed, no '@', lower-case), or None if it cannot be one."""
    username = raw.strip().removeprefix("@").lower()
    return username if _USERNAME.fullmatch(username) else None


def shortcode_from(raw: str) -> str | None:
    """The shortcode in a bare code or a post URL, or None if there is none."""
    text = raw.strip()
    if "/" not in text:
        return text if _SHORTCODE.fullmatch(text) else None
    match = _SHORTCODE_IN_URL.search(text)
    return match.group(1) if match else None


def user_id_from(raw: str) -> int | None:
    """The numeric user id in `raw`, or None if it is not one."""
    text = raw.strip()
    return int(text) if text.isdigit() and len(text) <= 20 else None
