"""Generation jobs: the queue and its record at once. State changes are conditional updates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.db.models import Job, SafetyStrike

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)


async def insert(session: AsyncSession, **fields: Any) -> Job:
    job = Job(**fields)
    session.add(job)
    await session.flush()
    return job


async def get(session: AsyncSession, job_id: int) -> Job | None:
    return await session.scalar(select(Job).where(Job.id == job_id).execution_options(populate_existing=True))


async def set_hold(session: AsyncSession, job_id: int, hold_id: int) -> None:
    await session.execute(update(Job).where(Job.id == job_id).values(hold_id=hold_id))


async def count_for_account(session: AsyncSession, account_id: int, statuses: Iterable[str]) -> int:
    return int(
        await session.scalar(
            select(func.count(Job.id)).where(Job.account_id == account_id, Job.status.in_(list(statuses)))
        )
        or 0
    )


async def queue_position(session: AsyncSession, job_id: int) -> int:
    """1 for the next job to start; approximate, since claims are fair across accounts."""
    ahead = await session.scalar(select(func.count(Job.id)).where(Job.status == QUEUED, Job.id < job_id))
    return int(ahead or 0) + 1


async def recent(session: AsyncSession, account_id: int, limit: int) -> list[Job]:
    result = await session.scalars(
        select(Job).where(Job.account_id == account_id).order_by(Job.id.desc()).limit(limit)
    )
    return list(result)


async def latest_active(session: AsyncSession, account_id: int) -> Job | None:
    return await session.scalar(
        select(Job)
        .where(Job.account_id == account_id, Job.status.in_(ACTIVE))
        .order_by(Job.id.desc())
        .limit(1)
    )


async def claim_next(session: AsyncSession, *, max_running_per_account: int, now: datetime) -> Job | None:
    """Moves the fairest due job to `running`, round robin across accounts: fewest running jobs
    first, then the account served least recently, then the oldest job."""
    other = aliased(Job)
    running_for_account = (
        select(func.count(other.id))
        .where(other.account_id == Job.account_id, other.status == RUNNING)
        .correlate(Job)
        .scalar_subquery()
    )
    served = aliased(Job)
    last_served = (
        select(func.max(served.started_at))
        .where(served.account_id == Job.account_id)
        .correlate(Job)
        .scalar_subquery()
    )
    candidate = await session.scalar(
        select(Job.id)
        .where(
            Job.status == QUEUED,
            or_(Job.not_before.is_(None), Job.not_before <= now),
            running_for_account < max_running_per_account,
        )
        .order_by(running_for_account, last_served.nulls_first(), Job.id)
        .limit(1)
    )
    if candidate is None:
        return None
    claimed = await session.execute(
        update(Job)
        .where(Job.id == candidate, Job.status == QUEUED)
        .values(status=RUNNING, attempts=Job.attempts + 1, started_at=now, not_before=None)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await get(session, candidate)


async def next_due_time(session: AsyncSession) -> datetime | None:
    """When the earliest backed-off job becomes due (None when nothing waits on a backoff)."""
    return await session.scalar(
        select(func.min(Job.not_before)).where(Job.status == QUEUED, Job.not_before.is_not(None))
    )


async def transition(
    session: AsyncSession, job_id: int, *, from_statuses: Iterable[str], to: str, **values: Any
) -> bool:
    """Moves a job between states only if it is still in one of `from_statuses`."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(list(from_statuses)))
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def running(session: AsyncSession) -> list[Job]:
    return list(await session.scalars(select(Job).where(Job.status == RUNNING).order_by(Job.id)))


async def add_strike(session: AsyncSession, account_id: int, source: str) -> None:
    session.add(SafetyStrike(account_id=account_id, source=source))
    await session.flush()


async def strikes_since(session: AsyncSession, account_id: int, since: datetime) -> list[datetime]:
    result = await session.scalars(
        select(SafetyStrike.created_at)
        .where(SafetyStrike.account_id == account_id, SafetyStrike.created_at >= since)
        .order_by(SafetyStrike.created_at)
    )
    return list(result)
