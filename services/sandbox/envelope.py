"""TikHub's response bodies: the success envelope and the `{"detail": {...}}` error body."""

import time
from typing import Any

import orjson

CHARGED = "Request successful. This request will incur a charge."
FREE = "Request successful. This request is free of charge."


def _clock_fields(now: float) -> dict[str, Any]:
    return {
        "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
        "time_stamp": int(now),
        "time_zone": "UTC",
    }


def success_body(
    *,
    request_id: str,
    router: str,
    params: dict[str, str],
    data: Any,
    now: float,
    message: str = CHARGED,
) -> bytes:
    """The encoded success envelope around an upstream payload."""
    return orjson.dumps(
        {
            "code": 200,
            "request_id": request_id,
            "message": message,
            **_clock_fields(now),
            "router": router,
            "params": params,
            "data": data,
        }
    )


def error_body(
    *,
    status: int,
    message: str,
    router: str,
    params: dict[str, str],
    now: float,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """The encoded error body TikHub sends with a non-2xx status."""
    detail = {
        "code": status,
        "message": message,
        **_clock_fields(now),
        "router": router,
        "params": params,
        **(extra or {}),
    }
    return orjson.dumps({"detail": detail})


def missing_parameter_body(name: str) -> bytes:
    """FastAPI's own 422 body for a missing query parameter (TikHub runs on FastAPI)."""
    detail = [{"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}]
    return orjson.dumps({"detail": detail})
