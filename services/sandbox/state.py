"""What one sandbox process keeps between calls."""

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from services.sandbox.calls import CallCounter
from services.sandbox.drift import PostOrigin
from services.sandbox.faults import FaultInjector
from services.sandbox.settings import SandboxSettings


@dataclass(slots=True)
class SandboxState:
    """Settings, fault knobs, call counts and the clock of one sandbox app."""

    settings: SandboxSettings
    faults: FaultInjector
    clock: Callable[[], float]
    calls: CallCounter = field(default_factory=CallCounter)
    # Lets v3 `get_user_profile?user_id=` find a username this process has already served;
    # ids are hashes of usernames and cannot be reversed.
    usernames_by_id: dict[int, str] = field(default_factory=dict)
    # The creator and publication time of every post a feed has listed, so that the single-post
    # paths answer the same numbers for it.
    feed_origins: dict[str, PostOrigin] = field(default_factory=dict)


def sandbox_state(request: Request) -> SandboxState:
    """The state of the app serving `request`."""
    state: SandboxState = request.app.state.sandbox
    return state
