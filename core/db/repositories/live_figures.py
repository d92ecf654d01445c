"""The operational figures read at each metrics scrape and readiness check: each query walks an index
(jobs by status, pending deliveries, ledger entries by time) and reads only the rows it counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Delivery, Job, LedgerEntry, UnreachableChat
from core.db.statuses import DeliveryStatus, JobStatus


async def jobs_by_status(session: AsyncSession) -> dict[str, int]:
    """How many jobs are in each status (`ix_jobs_status_account`: PostgreSQL counts from the index)."""
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: count for status, count in rows}


async def oldest_queued(session: AsyncSession) -> datetime | None:
    """When the longest-waiting queued job was submitted."""
    return await session.scalar(select(func.min(Job.created_at)).where(Job.status == JobStatus.QUEUED))


async def outbox(session: AsyncSession) -> tuple[int, datetime | None, datetime | None]:
    """Pending deliveries: how many, when the oldest was written, and the earliest moment one is due
    among those that can go (what waits for a chat that blocked the bot is held on purpose)."""
    can_go = Delivery.chat.not_in(select(UnreachableChat.chat))
    row = (
        await session.execute(
            select(
                func.count(),
                func.min(Delivery.created_at),
                func.min(Delivery.next_attempt_at).filter(can_go),
            ).where(Delivery.status == DeliveryStatus.PENDING)
        )
    ).one()
    return int(row[0]), row[1], row[2]


async def credits_by_kind(
    session: AsyncSession, since: datetime | None = None, before: datetime | None = None
) -> dict[str, int]:
    """The sum of ledger deltas by kind, over entries written in [since, before) when given
    (`ix_ledger_entries_created_at`)."""
    query = select(LedgerEntry.kind, func.sum(LedgerEntry.delta)).group_by(LedgerEntry.kind)
    if since is not None:
        query = query.where(LedgerEntry.created_at >= since)
    if before is not None:
        query = query.where(LedgerEntry.created_at < before)
    rows = await session.execute(query)
    return {kind: int(total or 0) for kind, total in rows}
