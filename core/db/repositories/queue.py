"""The job queue as accounts stand in it: the statements that put a paid-for job in the queue (inside
the transaction that reserves for it), and the per-account counts (`account_queues`) that every job
state change keeps in step, in its own transaction, so that the worker's claim reads them through one
index instead of counting jobs. Statements are built once: building one costs more CPU than running it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    Update,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import NEVER_SERVED, AccountQueue, Job, PrivacyProfile
from core.db.statuses import JobLane, JobStatus
from core.db.upsert import insert_for

JOBS = Job.__table__
QUEUES = AccountQueue.__table__
PROFILES = PrivacyProfile.__table__

# A job is kept unless its account chose `/privacy keep off` (core.privacy.unkept): read by the
# insert itself, after the intake locked the account, so a choice committed meanwhile is seen.
_KEPT = select(PROFILES.c.keep_history).where(PROFILES.c.account_id == bindparam("owner")).scalar_subquery()
_INSERT = insert(JOBS).values(kept=func.coalesce(_KEPT, true()))


def _oldest(next_job: ColumnElement[int | None], job: ColumnElement[int]) -> ColumnElement[int]:
    return case((or_(next_job.is_(None), next_job > job), job), else_=next_job)


def _count_queued(dialect: str) -> Insert:
    """An account's queue row gains `added` jobs, the oldest of them `first_job`, in `lane` (the row
    is created with the account's first job). The row stays in the paid lane while it has a paid job
    queued: an account that bought meanwhile is not sent back to the trial lane by an older job."""
    added, first = bindparam("added", type_=Integer), bindparam("first_job", type_=Integer)
    upsert = insert_for(dialect, QUEUES).values(
        account_id=bindparam("account", type_=Integer),
        running=0,
        queued=added,
        last_served_at=NEVER_SERVED,
        next_job_id=first,
        lane=bindparam("lane"),
    )
    kept_paid = (QUEUES.c.queued > 0) & (QUEUES.c.lane == JobLane.PAID.value)
    return upsert.on_conflict_do_update(
        index_elements=[QUEUES.c.account_id],
        set_={
            "queued": QUEUES.c.queued + added,
            "next_job_id": _oldest(QUEUES.c.next_job_id, first),
            "lane": case((kept_paid, QUEUES.c.lane), else_=upsert.excluded.lane),
        },
    )


_COUNT_QUEUED = {dialect: _count_queued(dialect) for dialect in ("sqlite", "postgresql")}


async def insert_queued(session: AsyncSession, jobs: Sequence[dict[str, Any]]) -> None:
    """Inserts these jobs (each a row's values, `id`, `account_id` and `lane` included) as `queued`
    and counts them in their accounts' rows, one statement for each table."""
    connection = await session.connection()
    await connection.execute(
        _INSERT, [{**job, "status": JobStatus.QUEUED, "owner": job["account_id"]} for job in jobs]
    )
    added: dict[int, list[int]] = {}
    paid: set[int] = set()
    for job in jobs:
        added.setdefault(job["account_id"], []).append(job["id"])
        if job["lane"] == JobLane.PAID:
            paid.add(job["account_id"])
    counts = [
        {"account": account, "added": len(ids), "first_job": min(ids), "lane": _lane(account in paid)}
        for account, ids in added.items()
    ]
    await connection.execute(_COUNT_QUEUED[connection.dialect.name], counts)


def _lane(paid: bool) -> str:
    return JobLane.PAID.value if paid else JobLane.TRIAL.value


async def moved(session: AsyncSession, account_id: int, job_id: int, source: str, target: str) -> None:
    """Keeps the account's counts in step with one of its jobs having moved from `source` to `target`
    in this transaction (not into `running`: only a claim does that, see `served`). Called after the
    job's own conditional update, which tells the move happened; the counts change by increments, so
    concurrent moves of one account's jobs add up."""
    if _changes(source, target):
        await _count(session, source, target, {"account": account_id, "job": job_id})


async def served(session: AsyncSession, account_id: int, job_id: int, now: datetime) -> None:
    """A claim started the job: it left the queue and the account was served `now`."""
    params = {"account": account_id, "job": job_id, "now": now}
    await _count(session, JobStatus.QUEUED, JobStatus.RUNNING, params)


async def _count(session: AsyncSession, source: str, target: str, params: dict[str, Any]) -> None:
    connection = await session.connection()  # a claim's hot path: no ORM execution around it
    if source == JobStatus.QUEUED and connection.dialect.name == "postgresql":
        # The account's oldest queued job is looked up by a statement that starts once the row is
        # locked, so it sees every job queued before (queueing one locks the row too). Inside one
        # statement that waited, PostgreSQL would re-check the row but not the subquery.
        await connection.execute(_LOCK, params)
    await connection.execute(_moved(source, target), params)


def _changes(source: str, target: str) -> bool:
    counted = (JobStatus.QUEUED, JobStatus.RUNNING)
    return source != target and (source in counted or target in counted)


_LOCK = select(QUEUES.c.account_id).where(QUEUES.c.account_id == bindparam("account")).with_for_update()


@functools.cache
def _moved(source: str, target: str) -> Update:
    values: dict[str, ColumnElement[Any]] = {}
    for status, column in ((JobStatus.RUNNING, QUEUES.c.running), (JobStatus.QUEUED, QUEUES.c.queued)):
        if delta := int(status == target) - int(status == source):
            values[column.key] = column + delta
    job = bindparam("job", type_=Integer)
    if target == JobStatus.QUEUED:
        values["next_job_id"] = _oldest(QUEUES.c.next_job_id, job)
    elif source == JobStatus.QUEUED:  # the oldest of the others (few: the queue is bounded per account)
        values["next_job_id"] = (
            select(func.min(JOBS.c.id))
            .where(JOBS.c.account_id == QUEUES.c.account_id, JOBS.c.status == JobStatus.QUEUED)
            .scalar_subquery()
        )
    if target == JobStatus.RUNNING:  # the latest start wins, should two claims' clocks disagree
        now = bindparam("now", type_=QUEUES.c.last_served_at.type)
        values["last_served_at"] = case((QUEUES.c.last_served_at > now, QUEUES.c.last_served_at), else_=now)
    return update(QUEUES).where(QUEUES.c.account_id == bindparam("account")).values(**values)
