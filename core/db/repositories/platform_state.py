"""Values platform doors keep across restarts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import PlatformState
from core.db.types import utcnow


async def get(session: AsyncSession, key: str) -> str | None:
    row = await session.get(PlatformState, key)
    return row.value if row is not None else None


async def put(session: AsyncSession, key: str, value: str) -> None:
    row = await session.get(PlatformState, key)
    if row is None:
        session.add(PlatformState(key=key, value=value, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_at = utcnow()
    await session.flush()
