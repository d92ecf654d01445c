"""The statements that put a paid-for job in the queue, inside the transaction that reserves for it.
They are built once: building a statement costs more CPU than running it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Insert, Integer, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import signals
from core.db.models import Job
from core.db.statuses import JobStatus

JOBS = Job.__table__

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


def _insert_queued(dialect: str) -> Insert:
    others = JOBS.alias("others")
    job, account = bindparam("new_job", type_=Integer), bindparam("new_job_account", type_=Integer)
    mine = (
        select(func.count(others.c.id))
        .where(others.c.account_id == account, others.c.status == JobStatus.QUEUED, others.c.id != job)
        .scalar_subquery()
    )
    ahead = (
        select(func.count(others.c.id))
        .where(others.c.status == JobStatus.QUEUED, others.c.id < job)
        .scalar_subquery()
    )
    returning: list[ColumnElement[Any]] = [mine, ahead]
    if dialect == "postgresql":  # wakes the workers of other processes once the transaction commits
        returning.append(func.pg_notify(signals.JOBS, ""))
    return insert(JOBS).returning(*returning)


_INSERT_QUEUED = {dialect: _insert_queued(dialect) for dialect in _NEXT_ID}


async def insert_queued(session: AsyncSession, job_id: int, values: dict[str, Any]) -> tuple[int, int]:
    """Inserts the job as `queued`; returns (the account's other queued jobs, its place in the queue),
    counted by the same statement after the account's row was locked."""
    statement = _INSERT_QUEUED[session.get_bind().dialect.name]
    params = {
        **values,
        "id": job_id,
        "status": JobStatus.QUEUED,
        "new_job": job_id,
        "new_job_account": values["account_id"],
    }
    row = (await session.execute(statement, params)).one()
    return int(row[0]), int(row[1]) + 1
