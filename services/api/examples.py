"""Example payloads shown in the OpenAPI schema and Swagger UI (the values of api.md)."""

TASK_ID = "5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11"
CREATED_AT = "2026-11-21T12:00:00Z"
UPDATED_AT = "2026-11-21T12:30:00Z"

OTHER_TASK_ID = "9d1f7e2a-3c4b-4e5f-8a6b-7c8d9e0f1a2b"
TAGS = ["brand-x"]

INFLUENCER_TASK = {
    "task_id": TASK_ID,
    "username": "instagram",
    "status": "active",
    "interval_seconds": 3600,
    "tags": TAGS,
    "track_posts": True,
}
POST_TASK = {
    "task_id": TASK_ID,
    "post_code": "CxYQJO8xuC6",
    "status": "active",
    "interval_seconds": 3600,
    "tags": TAGS,
}
HEALTH = {
    "state": "ok",
    "last_run_at": UPDATED_AT,
    "last_success_at": UPDATED_AT,
    "consecutive_failures": 0,
    "last_error": None,
}
TASK_USAGE = {
    "calls_today": 14,
    "cost_usd_today": 0.014,
    "projected_calls_per_day": 24.0,
    "projected_cost_usd_per_day": 0.024,
}
INFLUENCER_CREATED = {**INFLUENCER_TASK, "warnings": []}
POST_CREATED = {**POST_TASK, "warnings": []}
# An update answers as task_status does, with the task's target and interval.
UPDATED = {
    "health": HEALTH,
    "usage": TASK_USAGE,
    "interval_seconds": 1800,
    "tags": ["brand-x", "q4"],
    "warnings": [],
}
INFLUENCER_UPDATED = {**INFLUENCER_TASK, **UPDATED}
POST_UPDATED = {**POST_TASK, **UPDATED}
INFLUENCER_BULK_CREATED = {
    "created": [INFLUENCER_CREATED],
    "existing": [{"input": "@NatGeo", "task_id": OTHER_TASK_ID, "status": "paused"}],
    "invalid": [{"input": "no..dots", "message": "username cannot contain two '.' in a row"}],
}
POST_BULK_CREATED = {
    "created": [POST_CREATED],
    "existing": [
        {
            "input": "https://www.instagram.com/reel/C0dE_fGhIjK/",
            "task_id": OTHER_TASK_ID,
            "status": "active",
        }
    ],
    "invalid": [
        {
            "input": "https://example.com/p/abc/",
            "message": "post_url must be on instagram.com (or instagr.am), not 'example.com'",
        }
    ],
}
INFLUENCER_TASKS = [
    {**INFLUENCER_TASK, "created_at": CREATED_AT, "updated_at": UPDATED_AT, "health": HEALTH},
]
POST_TASKS = [
    {**POST_TASK, "created_at": CREATED_AT, "updated_at": UPDATED_AT, "health": HEALTH},
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

# History files (exports, and the bodies imports take), in the export's columns.
INFLUENCER_CSV = (
    "recorded_at,follower_count,following_count,post_count,bio,source\r\n"
    '2026-11-21T12:00:00Z,684990000,150,7899,"Discover what\'s new, on Instagram",fallback\r\n'
    '2026-11-21T13:00:00.250113Z,685000000,150,7900,"Discover what\'s new, on Instagram",live\r\n'
)
INFLUENCER_NDJSON = (
    '{"recorded_at":"2026-11-21T12:00:00Z","follower_count":684990000,"following_count":150,'
    '"post_count":7899,"bio":"Discover what\'s new on Instagram","source":"fallback"}\n'
    '{"recorded_at":"2026-11-21T13:00:00.250113Z","follower_count":685000000,'
    '"following_count":150,"post_count":7900,"bio":null,"source":"live"}\n'
)
INFLUENCERS_CSV = (
    "username,recorded_at,follower_count,following_count,post_count,bio,source\r\n"
    "instagram,2026-11-21T13:00:00Z,685000000,150,7900,,live\r\n"
    "natgeo,2026-11-21T13:00:05Z,283000000,140,30000,,imported\r\n"
)
POST_CSV = (
    "recorded_at,like_count,comment_count,play_count,source\r\n"
    "2026-11-21T12:00:00Z,1200000,10200,,imported\r\n"
    "2026-11-21T13:00:00.250113Z,1200345,10234,9800000,live\r\n"
)
POST_NDJSON = (
    '{"recorded_at":"2026-11-21T12:00:00Z","like_count":1200000,"comment_count":10200,'
    '"play_count":null,"source":"imported"}\n'
    '{"recorded_at":"2026-11-21T13:00:00.250113Z","like_count":1200345,"comment_count":10234,'
    '"play_count":9800000,"source":"live"}\n'
)
POSTS_CSV = (
    "post_code,recorded_at,like_count,comment_count,play_count,source\r\n"
    "CxYQJO8xuC6,2026-11-21T13:00:00Z,1200345,10234,9800000,live\r\n"
    "DAbCdEfGh12,2026-11-21T13:00:04Z,5400,120,,live\r\n"
)
HISTORY_IMPORTED = {
    "imported": 1438,
    "skipped": 2,
    "invalid": [
        {"line": 17, "message": "follower_count must be a whole number of at least 0, not '1.2k'"}
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
    "engagement": {
        "sampled_at": "2026-12-01T12:00:04Z",
        "posts_sampled": 12,
        "median_likes": 412_000.0,
        "median_comments": 1_150.0,
        "engagement_rate": 0.15,
        "engagement_rate_by_views": 4.1,
        "posts_per_week": 9.5,
        "posts": [
            {
                "post_code": "DBx0AuaOqVj",
                "published_at": "2026-12-01T09:30:00Z",
                "media_type": "video",
                "like_count": 398_211,
                "comment_count": 1_020,
                "play_count": 9_650_000,
            },
            {
                "post_code": "DBvS3KzoLc2",
                "published_at": "2026-11-30T17:02:00Z",
                "media_type": "carousel",
                "like_count": None,
                "comment_count": 874,
                "play_count": None,
            },
        ],
    },
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
BULK_PAUSED = {
    "paused_task_ids": [TASK_ID],
    "stopped_task_ids": [],
    "not_found_task_ids": [OTHER_TASK_ID],
}
BULK_RESUMED = {
    "resumed_task_ids": [TASK_ID],
    "stopped_task_ids": [],
    "not_found_task_ids": [OTHER_TASK_ID],
}
STATUS = {"status": "active", "tags": TAGS, "health": HEALTH, "usage": TASK_USAGE}
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
            "Send an API key in the X-API-Key header or as Authorization: Bearer <key>, "
            "or sign in on the dashboard.",
        ),
        "invalid_api_key": _error(401, "invalid_api_key", "The API key is unknown or revoked."),
    },
    403: {
        "cross_site_request": _error(
            403,
            "cross_site_request",
            "A request signed in by the dashboard's cookie must come from the dashboard "
            "(with its HX-Request header); other clients send the key in X-API-Key.",
        ),
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
# The errors of the export and import routes, beside those every route can answer with.
HISTORY_FILE_ERRORS = {
    **ROUTE_ERRORS,
    # Exports of several tasks name the unknown ones in details; other routes send none.
    404: {
        "task_not_found": _error(
            404,
            "task_not_found",
            f"No influencer task has id {TASK_ID}.",
            {"not_found_task_ids": [TASK_ID]},
        ),
    },
    413: {
        "payload_too_large": _error(
            413,
            "payload_too_large",
            "The request body is larger than 33554432 bytes; send a smaller one.",
        ),
        "too_many_points": _error(
            413,
            "too_many_points",
            "The body holds 120,000 points; an import takes at most 100,000 points per "
            "request: split the file.",
            {"points": 120_000, "max_points": 100_000},
        ),
    },
    415: {
        "unsupported_media_type": _error(
            415,
            "unsupported_media_type",
            "Send the points as text/csv or application/x-ndjson, in UTF-8.",
            {"content_type": "application/json"},
        ),
    },
    422: {
        **ROUTE_ERRORS[422],
        "invalid_header": _error(
            422,
            "invalid_header",
            "The header line has unknown columns followers. Name the columns recorded_at, "
            "follower_count, following_count, post_count, bio (any order; all but recorded_at "
            "optional; source is ignored).",
            {"columns": ["recorded_at", "follower_count", "following_count", "post_count", "bio"]},
        ),
        "invalid_encoding": _error(
            422,
            "invalid_encoding",
            "The body is not UTF-8 text; save the file as UTF-8.",
        ),
    },
}

USAGE = {
    "tikhub": {
        "today": {"calls": 1_450, "billable_calls": 1_440, "cost_usd": 1.44},
        "daily": [
            {"date": "2026-11-21", "calls": 1_450, "cost_usd": 1.44},
            {"date": "2026-11-20", "calls": 2_905, "cost_usd": 2.881},
        ],
        "projected": {
            "calls_per_day": 2_880.0,
            "cost_usd_per_day": 2.88,
            "cost_usd_per_30_days": 86.4,
        },
        "rate_limit_per_second": 10.0,
        "capacity_used_pct": 0.33,
        "balance_usd": 57.6,
        "free_credit_usd": 0.0,
        "balance_checked_at": "2026-11-21T12:00:00Z",
        "runway_days": 20.0,
        "daily_budget_usd": 5.0,
        "budget_exceeded_at": None,
        "budget_skipped_slots_today": 0,
        "keys": [
            {
                "fingerprint": "9f86d081884c7d65",
                "state": "healthy",
                "calls_today": 1_440,
                "rate_limit_per_second": 10.0,
            },
            {
                "fingerprint": "60303ae22b998861",
                "state": "rejected",
                "calls_today": 10,
                "rate_limit_per_second": 10.0,
            },
        ],
        "warnings": [],
    },
    "tasks": {"active": 1, "paused": 0, "stopped": 2},
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
