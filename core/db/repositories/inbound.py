"""Platform message ids already taken in: one row per id, shared by every process on the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import upsert
from core.db.models import InboundMessage


async def record(session: AsyncSession, key: str, at: datetime) -> bool:
    """Inserts `key` unless it is there already; True when this call inserted it. One statement, so
    processes taking in the same message at once agree: exactly one of them gets True."""
    result = await session.execute(
        upsert.insert(session, InboundMessage)
        .values(key=key, seen_at=at)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def purge_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(InboundMessage).where(InboundMessage.seen_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
