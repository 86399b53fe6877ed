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


def bearer_token(authorization: str | None) -> str | None:
    """The token of a Bearer Authorization header, if it is one."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def check_bearer(
    authorization: str | None, *, accepted: frozenset[str], rejected: frozenset[str]
) -> Credential:
    """Judge an Authorization header against the accepted keys (none: any token will do) and
    the keys rejected at runtime."""
    if not authorization:
        return Credential.MISSING
    token = bearer_token(authorization)
    if token is None or token in rejected:
        return Credential.INVALID
    if accepted:
        # Constant-time, so the sandbox does not teach clients a timing side channel.
        if not any(hmac.compare_digest(token.encode(), key.encode()) for key in accepted):
            return Credential.INVALID
        return Credential.VALID
    if token.startswith(NO_BALANCE_PREFIX):
        return Credential.NO_BALANCE
    return Credential.VALID
