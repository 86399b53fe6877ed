"""API keys: how they are made and hashed, and how a request's key is checked."""

import hashlib
import hmac
import secrets
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.errors import Unauthorized
from shared.models import utcnow
from shared.repositories.api_keys import ApiKeyRepository

# Marks the token as ours in a leaked-secret scan; 32 random bytes make guessing hopeless,
# which is also why a fast hash is enough to store it.
KEY_PREFIX = "im_"
# last_used_at is a hint for humans ("is this key still in use?"): writing it on every request
# would double the database work of a cached read.
LAST_USED_RESOLUTION_SECONDS = 60.0


def new_key() -> str:
    """A fresh API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The SHA-256 (hex) under which a key is stored and looked up."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyChecker:
    """Checks keys against the database on every request, so a revocation counts at once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._recorded_at: dict[int, float] = {}

    async def check(self, key: str) -> int:
        """The id of this active key; raise Unauthorized for an unknown or revoked one."""
        key_hash = hash_key(key)
        async with self.sessions() as session:
            keys = ApiKeyRepository(session)
            found = await keys.get_by_hash(key_hash)
            if (
                found is None
                or not hmac.compare_digest(found.key_hash, key_hash)
                or found.revoked_at is not None
            ):
                raise Unauthorized("The API key is unknown or revoked.", code="invalid_api_key")
            if self._record_due(found.id):
                await keys.record_use(found.id, now=utcnow())
                await session.commit()
            return found.id

    def _record_due(self, key_id: int) -> bool:
        now = time.monotonic()
        last = self._recorded_at.get(key_id)
        if last is not None and now - last < LAST_USED_RESOLUTION_SECONDS:
            return False
        self._recorded_at[key_id] = now
        return True
