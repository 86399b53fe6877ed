"""The sandbox's own endpoints under /_sandbox/: health, fault knobs and call counts.

They need no Bearer key: they are for the people and tests driving the sandbox, not for the
collector, and a real TikHub has nothing like them.
"""

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from services.sandbox.calls import CallCounts
from services.sandbox.knobs import FaultKnobs, FaultKnobsUpdate
from services.sandbox.state import sandbox_state

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/_sandbox", tags=["sandbox admin"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: answers as soon as the server accepts connections."""
    return {"status": "ok"}


@router.get("/config")
async def read_config(request: Request) -> FaultKnobs:
    """The fault knobs in force."""
    return sandbox_state(request).faults.knobs


@router.put("/config")
async def update_config(request: Request, update: FaultKnobsUpdate) -> FaultKnobs:
    """Change some fault knobs; fields left out keep their value, bad values get a 422."""
    faults = sandbox_state(request).faults
    try:
        knobs = update.apply_to(faults.knobs)
    except ValidationError as error:
        # e.g. an explicit null for a knob that cannot be null; same 422 shape as the rest.
        raise RequestValidationError(error.errors(include_url=False)) from None
    faults.update(knobs, reseed="seed" in update.model_fields_set)
    # Rejected keys are tokens: their number is logged, never the keys.
    changes = update.model_dump(exclude_unset=True, exclude={"rejected_keys"})
    if update.rejected_keys is not None:
        changes["rejected_keys"] = len(update.rejected_keys)
    log.info("sandbox.config_changed", **changes)
    return knobs


@router.get("/calls")
async def read_calls(request: Request) -> CallCounts:
    """Data calls received since start or the last reset, failed ones included."""
    return sandbox_state(request).calls.snapshot()


@router.delete("/calls", status_code=204)
async def reset_calls(request: Request) -> Response:
    """Start counting calls from zero."""
    sandbox_state(request).calls.reset()
    log.info("sandbox.calls_reset")
    return Response(status_code=204)
