"""The operators' figures: what jobs, the ledger and payments add up to over a period, per hour or per day.

Timestamps are grouped by truncating them to the hour or the day (UTC) in SQL, on each database its own
way, and every query bounds its time column by a range first: `jobs.finished_at` and
`ledger_entries.created_at` are indexed for it; `payments.created_at` is not, payments being few.
Percentiles are nearest-rank, taken by a window over the durations sorted in the database.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, distinct, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job, LedgerEntry, Payment
from core.db.statuses import JobStatus

Unit = Literal["hour", "day"]

# How each database writes a timestamp truncated to the unit, and how Python reads it back.
_SQLITE_FORMAT = {"hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}
_POSTGRES_FORMAT = {"hour": "YYYY-MM-DD HH24", "day": "YYYY-MM-DD"}


@dataclass(frozen=True, slots=True)
class JobBucket:
    images: int  # delivered by jobs that succeeded
    spent: int  # credits their holds settled
    accounts: int  # distinct accounts with a job that ended


@dataclass(frozen=True, slots=True)
class Takings:
    currency: str
    gross: int  # minor units (Stars for XTR) of every payment taken
    returned: int  # of those refunded in full or lost in a dispute
    payments: int


@dataclass(frozen=True, slots=True)
class Spread:
    """Durations in seconds: how many, and their median and 90th percentile (None when there are none)."""

    count: int
    median_s: float | None
    p90_s: float | None


def _bucket(session: AsyncSession, column: Any, unit: Unit) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), _POSTGRES_FORMAT[unit])
    return func.strftime(_SQLITE_FORMAT[unit], column)


def _start_of(key: str, unit: Unit) -> datetime:
    return datetime.strptime(key, _SQLITE_FORMAT[unit]).replace(tzinfo=UTC)


def _seconds(session: AsyncSession, start: Any, end: Any) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _status_is(session: AsyncSession, status: JobStatus) -> ColumnElement[bool]:
    """A condition on the status that SQLite does not answer from the status index: without statistics
    its planner would walk that index over every job ever made rather than the `finished_at` range.
    (`status || ''` is not indexed, as SQLite documents for any expression on a column.)"""
    if session.get_bind().dialect.name == "postgresql":
        return Job.status == status
    return Job.status.concat("") == status


async def job_buckets(
    session: AsyncSession, start: datetime, end: datetime, unit: Unit
) -> dict[datetime, JobBucket]:
    """Per bucket of `finished_at` in [start, end): images delivered, credits spent, accounts served."""
    key = _bucket(session, Job.finished_at, unit).label("key")
    succeeded = Job.status == JobStatus.SUCCEEDED
    query = (
        select(
            key,
            func.sum(case((succeeded, Job.n), else_=0)),
            func.sum(case((and_(succeeded, Job.hold_id.is_not(None)), Job.cost), else_=0)),
            func.count(distinct(Job.account_id)),
        )
        .where(Job.finished_at >= start, Job.finished_at < end)
        .group_by(key)
    )
    rows = await session.execute(query)
    return {_start_of(row[0], unit): JobBucket(int(row[1]), int(row[2]), int(row[3])) for row in rows}


async def active_accounts(session: AsyncSession, start: datetime, end: datetime) -> int:
    """Distinct accounts with a job that ended (delivered, failed or cancelled) in [start, end)."""
    query = select(func.count(distinct(Job.account_id))).where(
        Job.finished_at >= start, Job.finished_at < end
    )
    return int(await session.scalar(query) or 0)


async def failures(session: AsyncSession, start: datetime, end: datetime) -> list[tuple[str | None, int]]:
    """Failed jobs in [start, end) by error code, the most frequent first."""
    count = func.count().label("count")
    query = (
        select(Job.error_code, count)
        .where(Job.finished_at >= start, Job.finished_at < end, _status_is(session, JobStatus.FAILED))
        .group_by(Job.error_code)
        .order_by(count.desc(), Job.error_code.asc().nulls_last())
    )
    return [(row[0], int(row[1])) for row in await session.execute(query)]


async def ledger_buckets(
    session: AsyncSession, start: datetime, end: datetime, unit: Unit, kinds: Collection[str]
) -> dict[tuple[datetime, str], int]:
    """Per bucket of `created_at` in [start, end) and per entry kind: the sum of the entries' deltas."""
    key = _bucket(session, LedgerEntry.created_at, unit).label("key")
    query = (
        select(key, LedgerEntry.kind, func.sum(LedgerEntry.delta))
        .where(
            LedgerEntry.created_at >= start, LedgerEntry.created_at < end, LedgerEntry.kind.in_(sorted(kinds))
        )
        .group_by(key, LedgerEntry.kind)
    )
    rows = await session.execute(query)
    return {(_start_of(row[0], unit), row[1]): int(row[2]) for row in rows}


async def credits_sold(
    session: AsyncSession, start: datetime, end: datetime, unit: Unit, statuses: Collection[str]
) -> dict[datetime, int]:
    """Per bucket of `created_at` in [start, end): the credits of payments in these statuses."""
    key = _bucket(session, Payment.created_at, unit).label("key")
    query = (
        select(key, func.sum(Payment.credits))
        .where(Payment.created_at >= start, Payment.created_at < end, Payment.status.in_(sorted(statuses)))
        .group_by(key)
    )
    return {_start_of(row[0], unit): int(row[1]) for row in await session.execute(query)}


async def takings(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    taken: Collection[str],
    returned: Collection[str],
) -> list[Takings]:
    """Per currency (upper case), for payments made in [start, end) whose status is in `taken`: the
    amounts, and how much of it went back (statuses in `returned`)."""
    currency = func.upper(func.coalesce(Payment.currency, "")).label("currency")
    amount = func.coalesce(Payment.amount, 0)
    query = (
        select(
            currency,
            func.sum(amount),
            func.sum(case((Payment.status.in_(sorted(returned)), amount), else_=0)),
            func.count(),
        )
        .where(Payment.created_at >= start, Payment.created_at < end, Payment.status.in_(sorted(taken)))
        .group_by(currency)
        .order_by(currency)
    )
    rows = await session.execute(query)
    return [Takings(row[0], int(row[1]), int(row[2]), int(row[3])) for row in rows]


async def jobs_now(session: AsyncSession) -> tuple[int, int]:
    """(queued, running) jobs at this moment."""
    query = (
        select(Job.status, func.count())
        .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .group_by(Job.status)
    )
    counts = {row[0]: int(row[1]) for row in await session.execute(query)}
    return counts.get(JobStatus.QUEUED, 0), counts.get(JobStatus.RUNNING, 0)


async def waits(session: AsyncSession, start: datetime, end: datetime) -> Spread:
    """How long jobs that started in [start, end) waited in the queue (`started_at - created_at`, from
    their last start when retried). A started job has ended since (`finished_at`, indexed) or still
    runs (`status`, indexed), which is how the rows are found without reading every job."""
    duration = _seconds(session, Job.created_at, Job.started_at)
    conditions = (
        Job.started_at >= start,
        Job.started_at < end,
        or_(Job.finished_at >= start, Job.status == JobStatus.RUNNING),
    )
    return await _spread(select(duration.label("d")).where(*conditions), session)


async def latencies(session: AsyncSession, start: datetime, end: datetime) -> Spread:
    """How long the provider took (`finished_at - started_at`) for jobs that succeeded in [start, end)."""
    duration = _seconds(session, Job.started_at, Job.finished_at)
    query = select(duration.label("d")).where(
        Job.finished_at >= start,
        Job.finished_at < end,
        _status_is(session, JobStatus.SUCCEEDED),
        Job.started_at.is_not(None),
    )
    return await _spread(query, session)


async def _spread(durations: Select[Any], session: AsyncSession) -> Spread:
    """Nearest-rank median and 90th percentile: the values at ranks ceil(n/2) and ceil(9n/10)."""
    inner = durations.subquery()
    ranked = select(
        inner.c.d,
        func.row_number().over(order_by=inner.c.d).label("rank"),
        func.count().over().label("n"),
    ).subquery()
    median_rank = (ranked.c.n + 1) // 2
    p90_rank = (ranked.c.n * 9 + 9) // 10
    query = select(ranked.c.d, ranked.c.rank, ranked.c.n, median_rank, p90_rank).where(
        or_(ranked.c.rank == median_rank, ranked.c.rank == p90_rank)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return Spread(0, None, None)
    by_rank = {int(row[1]): float(row[0]) for row in rows}
    count, median, p90 = int(rows[0][2]), int(rows[0][3]), int(rows[0][4])
    return Spread(count, by_rank[median], by_rank[p90])
