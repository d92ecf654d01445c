"""Jobs as operators look for them: by the error reference a user quotes, and failures by cause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.admin.accounts import job_summary
from core.db.repositories import operations as repo
from core.db.session import Database

FAILURES_LIMIT = 100


async def by_reference(db: Database, ref: str) -> dict[str, Any] | None:
    """The job behind an error reference (as shown to the user), or None."""
    ref = ref.strip().lstrip("#").upper()
    if not ref:
        return None
    async with db.transaction() as session:
        job = await repo.job_by_reference(session, ref)
    if job is None:
        return None
    return {
        **job_summary(job),
        "account_id": job.account_id,
        "identity": job.identity,
        "attempts": job.attempts,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


async def failures(
    db: Database, *, since: datetime, cause: str | None = None, limit: int = FAILURES_LIMIT
) -> list[dict[str, Any]]:
    """Jobs that failed since `since`, newest first, optionally of one cause."""
    async with db.transaction() as session:
        jobs = await repo.failed_jobs(session, since=since, cause=cause, limit=limit)
    return [{**job_summary(job), "account_id": job.account_id} for job in jobs]


async def failure_causes(db: Database, *, since: datetime) -> dict[str, int]:
    """How many jobs failed since `since`, by cause, most frequent first."""
    async with db.transaction() as session:
        causes = await repo.failure_causes(session, since=since)
    return dict(sorted(causes.items(), key=lambda item: (-item[1], item[0])))
