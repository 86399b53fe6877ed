"""API keys: how they are made and hashed, and how one is checked against MySQL."""

import hashlib
import hmac
import secrets

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.errors import Unauthorized
from shared.models import utcnow
from shared.repositories.api_keys import ApiKeyRepository

# Marks the token as ours in a leaked-secret scan; 32 random bytes make guessing hopeless,
# which is also why a fast hash is enough to store it.
KEY_PREFIX = "im_"


def new_key() -> str:
    """A fresh API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The SHA-256 (hex) under which a key is stored and looked up."""
    return hashlib.sha256(key.encode()).hexdigest()


def invalid_key() -> Unauthorized:
    """The answer to a key that is not (or no longer) active."""
    return Unauthorized("The API key is unknown or revoked.", code="invalid_api_key")


class ApiKeyChecker:
    """Finds a key by its hash in MySQL and refuses it unless it is active."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def check(self, key_hash: str, *, record_use: bool) -> None:
        """Raise Unauthorized for an unknown or revoked key; else note its use if asked to."""
        async with self.sessions() as session:
            keys = ApiKeyRepository(session)
            found = await keys.get_by_hash(key_hash)
            if (
                found is None
                or not hmac.compare_digest(found.key_hash, key_hash)
                or found.revoked_at is not None
            ):
                raise invalid_key()
            if record_use:
                await keys.record_use(found.id, now=utcnow())
                await session.commit()
