"""The processes' heartbeats: one row each, renewed every few seconds, gone on a clean stop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import upsert
from core.db.models import Heartbeat


async def beat(session: AsyncSession, process: str, role: str, now: datetime) -> None:
    """Renews the process's row (created at its first beat)."""
    insert = upsert.insert(session, Heartbeat).values(process=process, role=role, started_at=now, beat_at=now)
    await session.execute(
        insert.on_conflict_do_update(index_elements=[Heartbeat.process], set_={"beat_at": now})
    )


async def remove(session: AsyncSession, process: str) -> None:
    await session.execute(delete(Heartbeat).where(Heartbeat.process == process))


async def prune(session: AsyncSession, before: datetime) -> None:
    """Forgets the processes that stopped beating before `before` without saying goodbye."""
    await session.execute(delete(Heartbeat).where(Heartbeat.beat_at < before))


async def last_beat(session: AsyncSession, roles: tuple[str, ...]) -> datetime | None:
    """The newest beat of a process in one of `roles` (a handful of rows: one per process)."""
    return await session.scalar(select(func.max(Heartbeat.beat_at)).where(Heartbeat.role.in_(roles)))
