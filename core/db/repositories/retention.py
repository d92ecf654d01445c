"""The retention purge's queries. Each finds or changes at most one batch of rows, walking a key
upwards, so that the purge's writes are many short transactions rather than one long one; what only
reads runs in a read (no writer lock)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Delivery, Job, SupportMessage, SupportTicket
from core.db.statuses import DeliveryStatus, JobStatus

DONE_DELIVERIES = (DeliveryStatus.SENT, DeliveryStatus.GIVEN_UP, DeliveryStatus.EXPIRED)


async def jobs_by_id(session: AsyncSession, job_ids: Sequence[int]) -> dict[int, tuple[int, datetime | None]]:
    """(account, finished at) of the jobs among `job_ids` that exist, by the primary key."""
    rows = await session.execute(
        select(Job.id, Job.account_id, Job.finished_at).where(Job.id.in_(list(job_ids)))
    )
    return {job_id: (account, finished) for job_id, account, finished in rows}


async def last_job(session: AsyncSession) -> int:
    return int(await session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1)) or 0)


async def prompts_to_blank(
    session: AsyncSession, first: int, last: int, cutoff: datetime, held: Collection[int]
) -> list[int]:
    """Failed and cancelled jobs numbered `first`..`last` finished before `cutoff` whose prompts are
    still there (a range of the primary key: the scan is bounded whatever the statuses)."""
    query = select(Job.id).where(
        Job.id.between(first, last),
        Job.status.in_([JobStatus.FAILED, JobStatus.CANCELLED]),
        Job.finished_at < cutoff,
        or_(Job.prompt != "", Job.provider_prompt != ""),
    )
    if held:
        query = query.where(Job.account_id.not_in(sorted(held)))
    return list(await session.scalars(query))


async def blank_prompts(session: AsyncSession, job_ids: Sequence[int]) -> int:
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(list(job_ids)))
        .values(prompt="", provider_prompt="", error_ref=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def closed_tickets(
    session: AsyncSession, cutoff: datetime, held: Collection[int], limit: int
) -> list[int]:
    query = (
        select(SupportTicket.id)
        .where(SupportTicket.closed_at.is_not(None), SupportTicket.closed_at < cutoff)
        .order_by(SupportTicket.id)
        .limit(limit)
    )
    if held:
        query = query.where(SupportTicket.account_id.not_in(sorted(held)))
    return list(await session.scalars(query))


async def delete_tickets(session: AsyncSession, ticket_ids: Sequence[int]) -> None:
    await session.execute(delete(SupportMessage).where(SupportMessage.ticket_id.in_(list(ticket_ids))))
    await session.execute(delete(SupportTicket).where(SupportTicket.id.in_(list(ticket_ids))))


async def delete_delivered(session: AsyncSession, before: datetime, limit: int) -> int:
    """Up to `limit` outbox rows already sent, given up or expired (their payloads repeat prompts and
    captions); how many went."""
    some = (
        select(Delivery.id)
        .where(Delivery.status.in_(DONE_DELIVERIES), Delivery.created_at < before)
        .limit(limit)
    )
    result = await session.execute(delete(Delivery).where(Delivery.id.in_(some)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
