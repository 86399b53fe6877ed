"""History bodies are written by orjson, byte for byte as the routes' response models would be."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from services.api.history import encode_success
from shared.models import Source
from shared.schemas import Envelope, InfluencerHistory, PostHistory

MOMENTS = [
    datetime(2026, 11, 1, tzinfo=UTC),  # no fraction of a second
    datetime(2026, 11, 1, 12, 30, 5, 123400, tzinfo=UTC),
    datetime(2026, 11, 1, 12, 30, 5, 1, tzinfo=UTC),
]
INFLUENCER = {
    "username": "natgeo",
    "history": [
        {
            "follower_count": 2**63 - 1,
            "following_count": None,
            "post_count": 0,
            "bio": 'Déjà vu 😀 "quoted" \\ back\u2028slash\x00\n',
            "recorded_at": moment,
            "source": source,
        }
        for moment, source in zip(MOMENTS, [Source.LIVE, Source.FALLBACK, Source.LIVE], strict=True)
    ],
}
POST = {
    "post_code": "CxYQJO8xuC6",
    "history": [
        {
            "like_count": 12,
            "comment_count": None,
            "play_count": None,
            "recorded_at": moment,
            "source": Source.FALLBACK,
        }
        for moment in MOMENTS
    ],
}


@pytest.mark.parametrize(
    ("data", "model"),
    [
        (INFLUENCER, Envelope[InfluencerHistory]),
        (POST, Envelope[PostHistory]),
        ({"username": "nobody_yet", "history": []}, Envelope[InfluencerHistory]),
    ],
    ids=["influencer", "post", "empty"],
)
def test_the_body_is_what_the_response_model_would_write(data: dict[str, Any], model: Any) -> None:
    adapter = TypeAdapter(model)
    expected = adapter.dump_json(
        adapter.validate_python({"status_code": 200, "success": True, "data": data})
    )
    assert encode_success(data) == expected
