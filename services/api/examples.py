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
STOPPED = {"deleted_task_ids": [TASK_ID], "not_found_task_ids": []}
STATUS = {"status": "active"}
PAUSED = {"task_id": TASK_ID, "status": "paused"}
RESUMED = {"task_id": TASK_ID, "status": "active"}
