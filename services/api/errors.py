"""The API's error hierarchy; one handler renders every one of them in the error envelope."""

from typing import Any


class AppError(Exception):
    """An error the client should see: an HTTP status, a machine code and a sentence."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        # RFC 9110: a 401 names the scheme the client should use.
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"

    @classmethod
    def for_field(cls, field: str, problem: str) -> "InvalidInput":
        """The error of one invalid path or query parameter, shaped like a body validation error."""
        return cls(
            f"Invalid request: {field}: {problem}.",
            details=[{"field": field, "message": problem, "type": "value_error"}],
        )


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
