"""Parsing of what clients type: Instagram usernames and post URLs."""

import re
from urllib.parse import urlsplit

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._]{1,30}")
SHORTCODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
INSTAGRAM_HOSTS = frozenset({"instagram.com", "www.instagram.com"})
POST_KINDS = frozenset({"p", "reel", "reels", "tv"})


class InvalidInstagramInput(ValueError):
    """The input is not a username or post URL Instagram could have; the message says why."""


def parse_username(raw: str) -> str:
    """Normalise a username: trim spaces and one leading '@', validate, then lower-case."""
    username = raw.strip()
    if username.startswith("@"):
        username = username[1:]
    # Validated before lower-casing: str.lower() maps some non-ASCII letters (the Kelvin sign)
    # to ASCII ones, which would let them through.
    if not username:
        raise InvalidInstagramInput("username is empty")
    if len(username) > 30:
        raise InvalidInstagramInput(
            f"username is {len(username)} characters long; Instagram allows at most 30"
        )
    if not USERNAME_PATTERN.fullmatch(username):
        bad = sorted({c for c in username if not re.fullmatch(r"[A-Za-z0-9._]", c)})
        raise InvalidInstagramInput(
            f"username may contain only letters, digits, '.' and '_' (found {''.join(bad)!r})"
        )
    return username.lower()


def parse_shortcode(raw: str) -> str:
    """Validate a bare post shortcode such as 'CxYQJO8xuC6'."""
    if not SHORTCODE_PATTERN.fullmatch(raw):
        raise InvalidInstagramInput(
            "post code must be 1-64 characters of letters, digits, '_' and '-'"
        )
    return raw


def parse_post_url(raw: str) -> str:
    """Extract the shortcode from an Instagram post, reel or IGTV URL."""
    text = raw.strip()
    if not text:
        raise InvalidInstagramInput("post_url is empty")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError as error:
        raise InvalidInstagramInput(f"post_url is not a valid URL: {error}") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise InvalidInstagramInput("post_url must be an http(s) URL")
    if host not in INSTAGRAM_HOSTS:
        raise InvalidInstagramInput(
            f"post_url must be on instagram.com, not {host or 'an empty host'!r}"
        )
    segments = [segment for segment in parts.path.split("/") if segment]
    # /p/<code>, or /<username>/p/<code> as Instagram writes links shared from a profile.
    if len(segments) == 3:
        parse_username(segments[0])
        segments = segments[1:]
    if len(segments) != 2 or segments[0].lower() not in POST_KINDS:
        raise InvalidInstagramInput(
            "post_url must look like https://www.instagram.com/p/<code>/ "
            "(or /reel/, /reels/, /tv/ instead of /p/)"
        )
    return parse_shortcode(segments[1])
