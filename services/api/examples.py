"""Example payloads shown in the OpenAPI schema and Swagger UI (the values of api.md)."""

TASK_ID = "5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11"
CREATED_AT = "2026-11-21T12:00:00Z"
UPDATED_AT = "2026-11-21T12:30:00Z"

INFLUENCER_CREATED = {
    "task_id": TASK_ID,
    "username": "instagram",
    "status": "active",
    "interval_seconds": 3600,
}
POST_CREATED = {
    "task_id": TASK_ID,
    "post_code": "CxYQJO8xuC6",
    "status": "active",
    "interval_seconds": 3600,
}
INFLUENCER_TASKS = [
    {**INFLUENCER_CREATED, "created_at": CREATED_AT, "updated_at": UPDATED_AT},
]
POST_TASKS = [
    {**POST_CREATED, "created_at": CREATED_AT, "updated_at": UPDATED_AT},
]
INFLUENCER_HISTORY = {
    "username": "instagram",
    "history": [
        {
            "follower_count": 685_000_000,
            "following_count": 150,
            "post_count": 7_900,
            "bio": "Discover what's new on Instagram",
            "recorded_at": "2026-11-21T13:00:00Z",
            "source": "live",
        },
        {
            "follower_count": 684_990_000,
            "following_count": 150,
            "post_count": 7_899,
            "bio": "Discover what's new on Instagram",
            "recorded_at": "2026-11-21T12:00:00Z",
            "source": "fallback",
        },
    ],
}
POST_HISTORY = {
    "post_code": "CxYQJO8xuC6",
    "history": [
        {
            "like_count": 1_200_345,
            "comment_count": 10_234,
            "play_count": 9_800_000,
            "recorded_at": "2026-11-21T13:00:00Z",
            "source": "live",
        },
    ],
}


def _change(before: int, after: int) -> dict[str, object]:
    return {
        "from": before,
        "to": after,
        "delta": after - before,
        "pct": round((after - before) / before * 100, 2),
    }


USER_STATS = {
    "username": "natgeo",
    "user_id": 787132,
    "latest": {
        "follower_count": 283_000_000,
        "following_count": 150,
        "post_count": 30_000,
        "recorded_at": "2026-12-01T12:00:00Z",
    },
    "changes": {
        window: {
            "follower_count": _change(283_000_000 - gain, 283_000_000),
            "following_count": _change(150, 150),
            "post_count": _change(30_000 - posts, 30_000),
        }
        for window, gain, posts in (("1d", 30_000, 2), ("7d", 210_000, 14), ("30d", 900_000, 60))
    },
    "average_daily_follower_gain": {"7d": 30_000.0, "30d": 30_000.0},
    "milestone": None,
    "daily": [
        {
            "date": "2026-12-01",
            "follower_count": 283_000_000,
            "following_count": 150,
            "post_count": 30_000,
            "follower_delta": 30_000,
            "following_delta": 0,
            "post_delta": 2,
        }
    ],
    "anomalies": [
        {"date": "2026-11-20", "metric": "follower_count", "delta": 250_000, "score": 41.2}
    ],
}
VIDEO_STATS = {
    "post_code": "CxYQJO8xuC6",
    "post_id": "3170000000000000001",
    "owner_username": "natgeo",
    "published_at": "2026-09-28T16:05:12Z",
    "media_type": "video",
    "caption": "A leopard at dusk in the Serengeti.",
    "latest": {
        "like_count": 1_200_345,
        "comment_count": 10_234,
        "play_count": 9_800_000,
        "recorded_at": "2026-11-21T13:00:00Z",
    },
    "changes": {
        window: {
            "like_count": _change(1_200_345 - likes, 1_200_345),
            "comment_count": _change(10_234 - 34, 10_234),
            "play_count": _change(9_800_000 - plays, 9_800_000),
        }
        for window, likes, plays in (
            ("1h", 345, 8_000),
            ("24h", 8_345, 200_000),
            ("7d", 200_345, 2_800_000),
        )
    },
    "velocity": {
        "likes_per_hour": {"1h": 345.0, "24h": 347.71},
        "comments_per_hour": {"1h": 34.0, "24h": 1.42},
        "plays_per_hour": {"1h": 8_000.0, "24h": 8_333.33},
    },
    "engagement_rate_by_plays": 12.35,
    "engagement_rate_by_followers": 0.43,
}
STOPPED = {"deleted_task_ids": [TASK_ID], "not_found_task_ids": []}
STATUS = {"status": "active"}
PAUSED = {"task_id": TASK_ID, "status": "paused"}
RESUMED = {"task_id": TASK_ID, "status": "active"}


def _error(status: int, code: str, message: str, details: object = None) -> dict[str, object]:
    return {
        "status_code": status,
        "success": False,
        "error": {"code": code, "message": message, "details": details},
    }


# Every error code the task and history routes answer with, by status (each its own example).
ROUTE_ERRORS: dict[int, dict[str, dict[str, object]]] = {
    400: {
        "invalid_json": _error(
            400,
            "invalid_json",
            "The request body is not valid JSON (EOF while parsing an object); "
            "send a JSON object with Content-Type: application/json.",
        ),
    },
    401: {
        "missing_api_key": _error(
            401,
            "missing_api_key",
            "Send an API key in the X-API-Key header or as Authorization: Bearer <key>.",
        ),
        "invalid_api_key": _error(401, "invalid_api_key", "The API key is unknown or revoked."),
    },
    404: {
        "task_not_found": _error(404, "task_not_found", f"No influencer task has id {TASK_ID}."),
    },
    409: {
        "already_monitored": _error(
            409,
            "already_monitored",
            f"instagram is already monitored by active task {TASK_ID}; "
            "pause, resume or stop that task instead.",
            {"task_id": TASK_ID, "status": "active"},
        ),
        "task_stopped": _error(
            409,
            "task_stopped",
            f"Task {TASK_ID} is stopped, so it cannot be paused; "
            "create the monitor task again to restart monitoring.",
            {"task_id": TASK_ID, "status": "stopped"},
        ),
    },
    408: {
        "request_timeout": _error(
            408,
            "request_timeout",
            "The request body did not arrive within 10 s; send it again.",
        ),
    },
    413: {
        "payload_too_large": _error(
            413,
            "payload_too_large",
            "The request body is larger than 262144 bytes; send a smaller one.",
        ),
    },
    422: {
        "validation_error": _error(
            422,
            "validation_error",
            "Invalid request: username: username cannot contain two '.' in a row.",
            [
                {
                    "field": "username",
                    "message": "username cannot contain two '.' in a row",
                    "type": "value_error",
                }
            ],
        ),
    },
    429: {
        "rate_limited": _error(
            429,
            "rate_limited",
            "This API key is over its limit of 20 requests per second (bursts of 40); "
            "retry in 1 s.",
        ),
        "too_many_failed_authentications": _error(
            429,
            "too_many_failed_authentications",
            "Too many requests from this address with an unknown or revoked API key (more "
            "than 10, then 10 a minute); retry in 6 s.",
        ),
    },
    500: {
        "internal_error": _error(
            500, "internal_error", "Something went wrong on our side; it is logged."
        ),
    },
    503: {
        "database_unavailable": _error(
            503, "database_unavailable", "The database is not answering; retry shortly."
        ),
        "redis_unavailable": _error(
            503, "redis_unavailable", "Redis is not answering; retry shortly."
        ),
    },
}
READINESS_ERRORS = {
    **ROUTE_ERRORS,
    503: {
        "not_ready": _error(
            503,
            "not_ready",
            "Not ready: Redis not answering.",
            {"mysql": "ok", "redis": "unavailable"},
        ),
    },
}

WEBHOOK_ID = "0e4b7c2a-1f3d-4c8e-9a6b-5d2f8e1c3a7b"
ALERT_ID = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
EVENT_ID = "msg_2b7e1f0c9a8d4e6fb3c5a7d9e1f3b5c7"
WEBHOOK = {
    "webhook_id": WEBHOOK_ID,
    "url": "https://hooks.example.com/instagram",
    "description": "Growth alerts to the team channel",
    "event_types": ["alert.resolved", "alert.triggered", "milestone.reached"],
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "created_at": CREATED_AT,
}
WEBHOOK_CREATED = {**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
WEBHOOKS = [WEBHOOK]
TEST_EVENT_SENT = {"event_id": EVENT_ID}
DELIVERIES = [
    {
        "delivery_id": 42,
        "event_id": EVENT_ID,
        "event_type": "alert.triggered",
        "status": "retrying",
        "attempts": 1,
        "response_status": 500,
        "last_error": "the receiver answered 500",
        "next_attempt_at": "2026-11-21T12:00:05Z",
        "created_at": CREATED_AT,
        "attempt_log": [
            {
                "attempt": 1,
                "outcome": "failed",
                "started_at": CREATED_AT,
                "duration_ms": 84,
                "response_status": 500,
                "error": "the receiver answered 500",
            }
        ],
    }
]
ALERT = {
    "alert_id": ALERT_ID,
    "task_id": TASK_ID,
    "target": "instagram",
    "metric": "follower_count",
    "condition": "change_pct_above",
    "threshold": 5.0,
    "window": "1d",
    "cooldown": "1h",
    "state": "triggered",
    "last_value": 6.12,
    "last_evaluated_at": UPDATED_AT,
    "last_triggered_at": UPDATED_AT,
    "last_resolved_at": None,
    "created_at": CREATED_AT,
}
ALERT_CREATED = {
    **ALERT,
    "state": "ok",
    "last_value": None,
    "last_evaluated_at": None,
    "last_triggered_at": None,
}
ALERTS = [ALERT]

# The error codes of the webhook and alert routes that differ from the task routes'.
ALERTING_ERRORS: dict[int, dict[str, dict[str, object]]] = {
    **ROUTE_ERRORS,
    404: {
        "webhook_not_found": _error(404, "webhook_not_found", f"No webhook has id {WEBHOOK_ID}."),
        "delivery_not_found": _error(404, "delivery_not_found", "No webhook delivery has id 42."),
        "alert_not_found": _error(404, "alert_not_found", f"No alert has id {ALERT_ID}."),
        "task_not_found": _error(404, "task_not_found", f"No task has id {TASK_ID}."),
    },
    409: {
        "webhook_disabled": _error(
            409,
            "webhook_disabled",
            f"Webhook {WEBHOOK_ID} is disabled (the receiver answered 410 Gone); "
            "create a new webhook to receive events again.",
        ),
        "delivery_succeeded": _error(
            409,
            "delivery_succeeded",
            "Delivery 42 succeeded already; the receiver has the event.",
        ),
    },
    422: {
        **ROUTE_ERRORS[422],
        "webhook_target_refused": _error(
            422,
            "webhook_target_refused",
            "Invalid request: url: the host localhost resolves to 127.0.0.1, a loopback "
            "address; set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it.",
            [
                {
                    "field": "url",
                    "message": "the host localhost resolves to 127.0.0.1, a loopback address; "
                    "set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it",
                    "type": "value_error",
                }
            ],
        ),
    },
}
ALERTING_ERROR_DESCRIPTIONS = {
    404: "No such webhook, delivery, alert or task",
    409: "The webhook is disabled, or the delivery succeeded already",
}
