"""TikHub's failures, sorted by what the collector should do about them."""

import enum
import re
import time

import httpx
import orjson

from shared.logs import SecretScrubber

# Messages TikHub passes through from Instagram when the target itself is the problem.
TARGET_MESSAGE = re.compile(
    r"not found|does not exist|doesn't exist|no such user|private account|is private", re.I
)
# A bound on error text kept in logs and on the task; TikHub echoes whole requests in some bodies.
MAX_MESSAGE_LENGTH = 300
# X-RateLimit-Reset above this is a unix time, below it a number of seconds.
UNIX_TIME_THRESHOLD = 1e9


class ErrorKind(enum.StrEnum):
    """How a failure is handled."""

    # Transport errors, timeouts, 429 and 5xx: retried with back-off; count toward the breaker.
    TRANSIENT = "transient"
    # 400 ("upstream fetch failed") and answers without data: retried little or not at all,
    # then the next endpoint of the chain is tried.
    UPSTREAM = "upstream"
    # 401/402/403: the key is refused; nothing else will work until it changes.
    CREDENTIALS = "credentials"
    # 404/422, unknown user, private account: permanent for this target.
    TARGET = "target"


class TikHubError(Exception):
    """A TikHub call that did not produce a payload; the message never holds the API key."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.endpoint = endpoint
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        """Whether trying another endpoint or a later retry cannot help."""
        return self.kind in (ErrorKind.CREDENTIALS, ErrorKind.TARGET)

    def __str__(self) -> str:
        status = "no answer" if self.status is None else f"HTTP {self.status}"
        request = f" (request {self.request_id})" if self.request_id else ""
        return f"TikHub {self.endpoint}: {status}: {self.args[0]}{request}"


def read_payload(response: httpx.Response, *, endpoint: str, scrubber: SecretScrubber) -> object:
    """The `data` of a successful answer, or the TikHubError that the answer amounts to."""
    status = response.status_code
    request_id = response.headers.get("x-request-id")
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if 200 <= status < 300:
        return _envelope_data(body, endpoint=endpoint, status=status, request_id=request_id)
    message = scrubber.scrub(_error_message(body, response))
    kind, retry_after = _classify(status, message, response.headers)
    raise TikHubError(
        kind,
        message,
        endpoint=endpoint,
        status=status,
        request_id=request_id,
        retry_after=retry_after,
    )


def _envelope_data(body: object, *, endpoint: str, status: int, request_id: str | None) -> object:
    def fail(kind: ErrorKind, message: str) -> TikHubError:
        return TikHubError(
            kind,
            message[:MAX_MESSAGE_LENGTH],
            endpoint=endpoint,
            status=status,
            request_id=request_id,
        )

    if not isinstance(body, dict):
        raise fail(ErrorKind.UPSTREAM, "the answer is not a JSON object")
    data = body.get("data")
    if body.get("code") != 200 or data is None:
        raise fail(ErrorKind.UPSTREAM, f"envelope code {body.get('code')!r} without data")
    # Seen for usernames that do not exist: HTTP 200, envelope code 200, and the upstream's own
    # failure inside `data`. It is not conclusive on its own, so the chain asks the next endpoint.
    if isinstance(data, dict) and data.get("code") not in (None, 200) and data.get("data") is None:
        inner = str(data.get("message") or "")
        kind = ErrorKind.TARGET if TARGET_MESSAGE.search(inner) else ErrorKind.UPSTREAM
        raise fail(kind, f"upstream code {data.get('code')!r} without data {inner}".strip())
    return data


def _error_message(body: object, response: httpx.Response) -> str:
    # Only TikHub's message is kept: the rest of an error body can echo the request's headers.
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        message = detail.get("message") or detail.get("msg")
    elif isinstance(detail, str):
        message = detail
    elif isinstance(body, dict):
        message = body.get("message")
    else:
        message = None
    return str(message or response.reason_phrase or "no message")[:MAX_MESSAGE_LENGTH]


def _classify(status: int, message: str, headers: httpx.Headers) -> tuple[ErrorKind, float | None]:
    if status in (401, 402, 403):
        return ErrorKind.CREDENTIALS, None
    if status in (404, 422, 410):
        return ErrorKind.TARGET, None
    if status == 429:
        return ErrorKind.TRANSIENT, retry_after_seconds(headers)
    if status >= 500 or status == 408:
        return ErrorKind.TRANSIENT, None
    if TARGET_MESSAGE.search(message):
        return ErrorKind.TARGET, None
    return ErrorKind.UPSTREAM, None


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """How long a 429 asks to wait: `Retry-After`, else `X-RateLimit-Reset` (seconds or epoch)."""
    for name in ("retry-after", "x-ratelimit-reset"):
        try:
            value = float(headers[name])
        except (KeyError, ValueError):
            continue
        if value > UNIX_TIME_THRESHOLD:
            value -= time.time()
        return max(0.0, value)
    return None
