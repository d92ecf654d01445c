"""The queries of `/privacy keep off` (core.privacy.unkept): marking an account's jobs unkept, finding
the unkept jobs whose time is up through `ix_jobs_unkept`, and erasing their content in one batch."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, false, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job, JobReference
from core.db.repositories.erasure import JobFiles, delete_job_deliveries
from core.db.statuses import ACTIVE_JOBS


async def unkeep_all(session: AsyncSession, account_id: int) -> int:
    """`/privacy keep off`: every job of the account not erased yet is to be erased once its time is
    up (by the account's index); how many were marked."""
    result = await session.execute(
        update(Job)
        .where(Job.account_id == account_id, Job.kept == true())
        .values(kept=False)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def due(
    session: AsyncSession, cutoff: datetime, held: Collection[int], skip: Collection[int], limit: int
) -> list[JobFiles]:
    """Up to `limit` unkept jobs finished before `cutoff` and not erased yet, the oldest first, but
    those of accounts under a legal hold and those in `skip` (waiting for a job that reads their files)."""
    query = (
        select(Job.id, Job.n, Job.outputs, Job.references)
        .where(Job.kept == false(), Job.erased_at.is_(None), Job.finished_at < cutoff)
        .order_by(Job.finished_at, Job.id)
        .limit(limit)
    )
    if held:
        query = query.where(Job.account_id.not_in(sorted(held)))
    if skip:
        query = query.where(Job.id.not_in(sorted(skip)))
    rows = await session.execute(query)
    return [
        JobFiles(id, n, list(outputs or ()), list(references or ())) for id, n, outputs, references in rows
    ]


async def read_by_active(session: AsyncSession, paths: Collection[str], jobs: Collection[int]) -> set[str]:
    """Which of these files a queued or running job other than `jobs` is about to read (an upscale of
    an image, a reroll of an upload): they stay until it has."""
    if not paths:
        return set()
    query = (
        select(JobReference.path)
        .join(Job, Job.id == JobReference.job_id)
        .where(
            JobReference.path.in_(sorted(paths)),
            JobReference.job_id.not_in(sorted(jobs)),
            Job.status.in_(ACTIVE_JOBS),
        )
        .distinct()
    )
    return set(await session.scalars(query))


async def erase(session: AsyncSession, job_ids: Sequence[int], now: datetime) -> int:
    """Empties the jobs' prompts and file lists, forgets which files they read and deletes their
    outbox messages (which repeat prompts and captions); the rows stay for the ledger."""
    ids = list(job_ids)
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(ids), Job.erased_at.is_(None))
        .values(prompt="", provider_prompt="", outputs=[], references=[], erased_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(JobReference).where(JobReference.job_id.in_(ids)))
    await delete_job_deliveries(session, ids)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
