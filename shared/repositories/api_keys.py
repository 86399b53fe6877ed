"""Reads and writes of the `api_key` table."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import ApiKey


class ApiKeyNameTaken(Exception):
    """Another key (active or revoked) already has this name."""


class ApiKeyRepository:
    """API key queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, name: str, key_hash: str, *, now: datetime) -> ApiKey:
        """Store a new key's hash under `name`; raise ApiKeyNameTaken when the name is used."""
        key = ApiKey(name=name, key_hash=key_hash, created_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(key)
        except IntegrityError as error:
            raise ApiKeyNameTaken(name) from error
        return key

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose SHA-256 this is, revoked or not."""
        return await self.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))

    async def list_all(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return list(await self.session.scalars(select(ApiKey).order_by(ApiKey.id)))

    async def revoke(self, name: str, *, now: datetime) -> ApiKey | None:
        """Revoke the key named `name` (a revoked key stays revoked); None if there is none."""
        key = await self.session.scalar(select(ApiKey).where(ApiKey.name == name))
        if key is not None and key.revoked_at is None:
            key.revoked_at = now
            await self.session.flush()
        return key

    async def record_use(self, key_id: int, *, now: datetime) -> None:
        """Note when a key was last used."""
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
