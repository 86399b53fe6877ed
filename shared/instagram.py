"""Parsing of what clients type: Instagram usernames and post URLs."""

import re
from urllib.parse import urlsplit

MAX_USERNAME_LENGTH = 30
MAX_SHORTCODE_LENGTH = 64
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._]{1,30}")
SHORTCODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The same rules as the parsers below, as the regular expressions the OpenAPI schema publishes
# (so a generated request the schema allows is one the API accepts): surrounding spaces and one
# '@' allowed, at most 30 characters, dots only between other characters and never two together.
USERNAME_TEXT = r"\s*@?(?=[A-Za-z0-9._]{1,30}\s*$)[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*\s*"
USERNAME_SCHEMA_PATTERN = f"^{USERNAME_TEXT}$"
SHORTCODE_SCHEMA_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# The hosts a shared link uses: the site, its mobile site, and Instagram's own short domain.
INSTAGRAM_HOSTS = frozenset(
    {"instagram.com", "www.instagram.com", "m.instagram.com", "instagr.am", "www.instagr.am"}
)
POST_KINDS = frozenset({"p", "reel", "reels", "tv"})


class InvalidInstagramInput(ValueError):
    """The input is not a username or post URL Instagram could have; the message says why."""


def too_long(limit: int, length: int, unit: str = "characters") -> str:
    """The one wording of a length problem, for our own checks and pydantic's alike."""
    return f"must have at most {limit} {unit}, not {length}"


def parse_username(raw: str) -> str:
    """Normalise a username: trim spaces and one leading '@', validate, then lower-case."""
    username = raw.strip()
    if username.startswith("@"):
        username = username[1:]
    # Validated before lower-casing: str.lower() maps some non-ASCII letters (the Kelvin sign)
    # to ASCII ones, which would let them through.
    if not username:
        raise InvalidInstagramInput("username is empty")
    if len(username) > MAX_USERNAME_LENGTH:
        raise InvalidInstagramInput(
            f"username {too_long(MAX_USERNAME_LENGTH, len(username))} (Instagram's limit)"
        )
    if not USERNAME_PATTERN.fullmatch(username):
        bad = sorted({c for c in username if not re.fullmatch(r"[A-Za-z0-9._]", c)})
        raise InvalidInstagramInput(
            f"username may contain only letters, digits, '.' and '_' (found {''.join(bad)!r})"
        )
    # Instagram's own sign-up refuses these, so no profile can have such a name.
    if username.startswith(".") or username.endswith("."):
        raise InvalidInstagramInput("username cannot start or end with '.'")
    if ".." in username:
        raise InvalidInstagramInput("username cannot contain two '.' in a row")
    return username.lower()


def parse_shortcode(raw: str) -> str:
    """Validate a bare post shortcode such as 'CxYQJO8xuC6'."""
    if not raw:
        raise InvalidInstagramInput("post code is empty")
    if len(raw) > MAX_SHORTCODE_LENGTH:
        raise InvalidInstagramInput(f"post code {too_long(MAX_SHORTCODE_LENGTH, len(raw))}")
    if not SHORTCODE_PATTERN.fullmatch(raw):
        raise InvalidInstagramInput("post code may contain only letters, digits, '_' and '-'")
    return raw


def parse_post_url(raw: str) -> str:
    """Extract the shortcode from an Instagram post, reel or IGTV URL, or take a bare shortcode."""
    text = raw.strip()
    if not text:
        raise InvalidInstagramInput("post_url is empty")
    if SHORTCODE_PATTERN.fullmatch(text):
        return text
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError as error:
        raise InvalidInstagramInput(f"post_url is not a valid URL: {error}") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise InvalidInstagramInput("post_url must be an http(s) URL")
    # "https://instagram.com@evil.example/…" is a link to evil.example; refuse any userinfo
    # rather than let a reader mistake the host.
    if "@" in parts.netloc:
        raise InvalidInstagramInput("post_url must not contain a user name or password ('@')")
    if host not in INSTAGRAM_HOSTS:
        raise InvalidInstagramInput(
            f"post_url must be on instagram.com (or instagr.am), not {host or 'an empty host'!r}"
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
