"""Checking the Bearer key of a data call."""

import hmac
from enum import StrEnum

# With no SANDBOX_API_KEY set, a token with this prefix gets TikHub's "no balance" 402, whose
# body echoes the Authorization header: callers must redact it before logging.
NO_BALANCE_PREFIX = "nobalance"


class Credential(StrEnum):
    """What the Authorization header amounts to."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"
    NO_BALANCE = "no_balance"


def check_bearer(authorization: str | None, *, api_key: str) -> Credential:
    """Judge an Authorization header against the configured key (empty: any token will do)."""
    if not authorization:
        return Credential.MISSING
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return Credential.INVALID
    if api_key:
        # Constant-time, so the sandbox does not teach clients a timing side channel.
        if not hmac.compare_digest(token.encode(), api_key.encode()):
            return Credential.INVALID
        return Credential.VALID
    if token.startswith(NO_BALANCE_PREFIX):
        return Credential.NO_BALANCE
    return Credential.VALID
