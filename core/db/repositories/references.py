"""Which jobs read which stored files (`job_references`): uploads are named by their content, so two
accounts may share one, and an upload is still needed while a job refers to it. Every question here
is answered from the primary key (path first), never by reading the jobs' `references` lists."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job, JobReference
from core.db.statuses import ACTIVE_JOBS


async def record(session: AsyncSession, paths_by_job: Mapping[int, Iterable[str]]) -> None:
    """In the transaction that inserts the jobs: the stored files each reads."""
    rows = [
        {"path": path, "job_id": job_id}
        for job_id, paths in paths_by_job.items()
        for path in sorted(set(paths))
    ]
    if rows:
        await session.execute(insert(JobReference.__table__), rows)


async def used_by_others(session: AsyncSession, paths: Collection[str], jobs: Collection[int]) -> set[str]:
    """Which of these files a job other than `jobs` still refers to."""
    if not paths:
        return set()
    query = select(JobReference.path).where(JobReference.path.in_(sorted(paths)))
    if jobs:
        query = query.where(JobReference.job_id.not_in(sorted(jobs)))
    return set(await session.scalars(query.distinct()))


async def needed(
    session: AsyncSession, paths: Collection[str], cutoff: datetime, held: Collection[int]
) -> set[str]:
    """Which of these files a job created since `cutoff`, an unfinished job or a job of an account
    under a legal hold refers to."""
    if not paths:
        return set()
    conditions = [Job.created_at >= cutoff, Job.status.in_(ACTIVE_JOBS)]
    if held:
        conditions.append(Job.account_id.in_(sorted(held)))
    query = (
        select(JobReference.path)
        .join(Job, Job.id == JobReference.job_id)
        .where(JobReference.path.in_(sorted(paths)), or_(*conditions))
        .distinct()
    )
    return set(await session.scalars(query))
