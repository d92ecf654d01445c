"""The job queue as accounts stand in it: the statements that put a paid-for job in the queue (inside
the transaction that reserves for it), and the per-account counts (`account_queues`) that every job
state change keeps in step, in its own transaction, so that the worker's claim reads them through one
index instead of counting jobs. Statements are built once: building one costs more CPU than running it.
"""

from __future__ import annotations

import functools
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
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import signals
from core.db.models import NEVER_SERVED, AccountQueue, Job
from core.db.statuses import JobStatus
from core.db.upsert import insert_for

JOBS = Job.__table__
QUEUES = AccountQueue.__table__

# On SQLite the reserving transaction holds the only write lock, so the next row id is max + 1;
# PostgreSQL draws it from the sequence.
_NEXT_ID = {
    "sqlite": select(func.coalesce(func.max(JOBS.c.id), 0) + 1).scalar_subquery(),
    "postgresql": func.nextval(func.pg_get_serial_sequence("jobs", "id")),
}


def next_job_id(session: AsyncSession) -> ColumnElement[int]:
    """The number the next job will carry, as a column of the statement that reserves for it, so the
    hold (and so its ledger entries) can name the job before its row exists."""
    return _NEXT_ID[session.get_bind().dialect.name]


def _oldest(next_job: ColumnElement[int | None], job: ColumnElement[int]) -> ColumnElement[int]:
    return case((or_(next_job.is_(None), next_job > job), job), else_=next_job)


def _count_queued(dialect: str) -> Insert:
    """The account's queue row gains the new job (created with it: an account's first job)."""
    job, account = bindparam("new_job", type_=Integer), bindparam("new_job_account", type_=Integer)
    upsert = insert_for(dialect, QUEUES).values(
        account_id=account, running=0, queued=1, last_served_at=NEVER_SERVED, next_job_id=job
    )
    return upsert.on_conflict_do_update(
        index_elements=[QUEUES.c.account_id],
        set_={"queued": QUEUES.c.queued + 1, "next_job_id": _oldest(QUEUES.c.next_job_id, job)},
    ).returning(QUEUES.c.queued)


def _insert_queued(dialect: str) -> Insert:
    """The job, returning the jobs ahead of it (its place) and, on PostgreSQL, the account's queued
    jobs: there the account's count changes in the same statement, and the workers of other
    processes are notified once the transaction commits."""
    others = JOBS.alias("others")
    ahead = (
        select(func.count(others.c.id))
        .where(others.c.status == JobStatus.QUEUED, others.c.id < bindparam("new_job", type_=Integer))
        .scalar_subquery()
    )
    returning: list[ColumnElement[Any]] = [ahead]
    statement = insert(JOBS)
    if dialect == "postgresql":
        counted = _count_queued(dialect).cte("counted")
        # A statement with a writing CTE leaves the columns' Python defaults out: given here.
        statement = statement.add_cte(counted).values(
            outputs=bindparam("no_outputs", [], type_=JOBS.c.outputs.type), attempts=0, created_at=func.now()
        )
        returning += [select(counted.c.queued).scalar_subquery(), func.pg_notify(signals.JOBS, "")]
    return statement.returning(*returning)


_INSERT_QUEUED = {dialect: _insert_queued(dialect) for dialect in _NEXT_ID}
_COUNT_QUEUED = {dialect: _count_queued(dialect) for dialect in _NEXT_ID}


async def insert_queued(session: AsyncSession, job_id: int, values: dict[str, Any]) -> tuple[int, int]:
    """Inserts the job as `queued`; returns (the account's other queued jobs, its place in the queue),
    counted after the account's row was locked. SQLite cannot write two tables in one statement: the
    account's count takes a second one there."""
    dialect = session.get_bind().dialect.name
    params = {
        **values,
        "id": job_id,
        "status": JobStatus.QUEUED,
        "new_job": job_id,
        "new_job_account": values["account_id"],
    }
    row = (await session.execute(_INSERT_QUEUED[dialect], params)).one()
    queued = row[1] if dialect == "postgresql" else await session.scalar(_COUNT_QUEUED[dialect], params)
    return int(queued) - 1, int(row[0]) + 1


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
