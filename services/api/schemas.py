"""Bodies of the API's own operational routes (the REST contract's live in shared.schemas)."""

from typing import Literal

from pydantic import BaseModel

Check = Literal["ok", "unavailable"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    mysql: Check
    redis: Check
