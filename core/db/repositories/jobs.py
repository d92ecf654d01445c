"""Generation jobs: the queue and its record at once. State changes are conditional updates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.db import locks
from core.db.models import Job, ProviderCall, SafetyStrike
from core.db.repositories import ledger

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)


async def insert(session: AsyncSession, **fields: Any) -> Job:
    job = Job(**fields)
    session.add(job)
    await session.flush()
    return job


async def get(session: AsyncSession, job_id: int) -> Job | None:
    return await session.scalar(select(Job).where(Job.id == job_id).execution_options(populate_existing=True))


async def by_request(session: AsyncSession, request_key: str) -> Job | None:
    return await session.scalar(select(Job).where(Job.request_key == request_key))


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


@dataclass(frozen=True, slots=True)
class Claim:
    """A job to render now, or nothing; `window_opens` says when the provider limit frees a slot."""

    job: Job | None
    window_opens: datetime | None = None
    provider_call: int | None = None  # its slot in the provider window, to restamp when the call starts


PROVIDER_WINDOW = timedelta(minutes=1)
WINDOW_SLACK = 0.02  # a slot is kept a little past the minute: the provider's clock is not ours
CLAIM_TRIES = 5  # candidates one claim looks at when racing other workers for the same accounts


async def claim_next(
    session: AsyncSession,
    *,
    owner: str,
    lease: timedelta,
    max_running_per_account: int,
    images_per_minute: int,
    now: datetime,
) -> Claim:
    """Leases the fairest due job to `owner`, round robin across accounts: fewest running jobs first,
    then the account served least recently, then the oldest job.

    Workers in other processes claim at the same time: candidates are locked with SKIP LOCKED, the
    account's row is locked to recount its running jobs, and the provider's images-per-minute window
    is shared through `provider_calls` (claims serialize on it only while a limit is set).
    """
    free_images: int | None = None
    if images_per_minute:
        await locks.serialize(session, "provider-window")
        window = PROVIDER_WINDOW * (1 + WINDOW_SLACK)
        await session.execute(delete(ProviderCall).where(ProviderCall.started_at <= now - 2 * window))
        in_window = await session.execute(
            select(func.coalesce(func.sum(ProviderCall.images), 0), func.min(ProviderCall.started_at)).where(
                ProviderCall.started_at > now - window
            )
        )
        used, oldest = in_window.one()
        if used >= images_per_minute:
            return Claim(None, window_opens=oldest + window)
        if used:  # a request larger than the whole limit waits for an empty window
            free_images = images_per_minute - int(used)
    for _ in range(CLAIM_TRIES):
        candidate = (await session.execute(_candidates(max_running_per_account, free_images, now))).first()
        if candidate is None:
            return Claim(None)
        job_id, account_id, images = candidate
        await ledger.lock_balances(session, account_id)
        if await count_for_account(session, account_id, [RUNNING]) >= max_running_per_account:
            continue  # another worker just started one of this account's jobs; this row stays locked
        claimed = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == QUEUED)
            .values(
                status=RUNNING,
                attempts=Job.attempts + 1,
                started_at=now,
                not_before=None,
                lease_owner=owner,
                lease_expires_at=now + lease,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        call = None
        if images_per_minute:
            call = ProviderCall(started_at=now, images=images)
            session.add(call)
            await session.flush()
        return Claim(await get(session, job_id), provider_call=call.id if call else None)
    return Claim(None)


def _candidates(
    max_running_per_account: int, free_images: int | None, now: datetime
) -> Select[tuple[int, int, int]]:
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
    conditions = [
        Job.status == QUEUED,
        or_(Job.not_before.is_(None), Job.not_before <= now),
        running_for_account < max_running_per_account,
    ]
    if free_images is not None:
        conditions.append(Job.n <= free_images)
    return (
        select(Job.id, Job.account_id, Job.n)
        .where(*conditions)
        .order_by(running_for_account, last_served.nulls_first(), Job.id)
        .limit(1)
        .with_for_update(of=Job, skip_locked=True)
    )


async def provider_call_started(session: AsyncSession, call_id: int, now: datetime) -> None:
    """Moves a window slot to the moment the request really leaves: the provider counts arrivals,
    and the time between claiming and calling varies."""
    await session.execute(update(ProviderCall).where(ProviderCall.id == call_id).values(started_at=now))


async def renew_leases(
    session: AsyncSession, owner: str, job_ids: Iterable[int], until: datetime
) -> set[int]:
    """Extends `owner`'s leases; returns the jobs it still holds (the others were cancelled or taken)."""
    ids = list(job_ids)
    if not ids:
        return set()
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(ids), Job.status == RUNNING, Job.lease_owner == owner)
        .values(lease_expires_at=until)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


async def expired_leases(session: AsyncSession, now: datetime, limit: int = 100) -> list[Job]:
    """Running jobs whose worker stopped renewing its lease (it died, or lost the database)."""
    result = await session.scalars(
        select(Job)
        .where(Job.status == RUNNING, or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now))
        .order_by(Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result)


async def next_due_time(session: AsyncSession) -> datetime | None:
    """When the earliest backed-off job becomes due (None when nothing waits on a backoff)."""
    return await session.scalar(
        select(func.min(Job.not_before)).where(Job.status == QUEUED, Job.not_before.is_not(None))
    )


async def transition(
    session: AsyncSession,
    job_id: int,
    *,
    from_statuses: Iterable[str],
    to: str,
    lease_owner: str | None = None,
    attempt: int | None = None,
    **values: Any,
) -> bool:
    """Moves a job between states only if it is still in one of `from_statuses` (and, given a
    `lease_owner` and `attempt`, still in that claim). Leaving `running` ends the lease."""
    conditions = [Job.id == job_id, Job.status.in_(list(from_statuses))]
    if lease_owner is not None:
        conditions.append(Job.lease_owner == lease_owner)
    if attempt is not None:
        conditions.append(Job.attempts == attempt)
    if to != RUNNING:
        values.update(lease_owner=None, lease_expires_at=None)
    result = await session.execute(
        update(Job)
        .where(*conditions)
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


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
