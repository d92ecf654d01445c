"""What a batch of orders reads before it is queued (core.generation.intake): the accounts that pay,
locked, then the numbers of the new jobs and holds and the place in the queue. One statement each,
whatever the batch."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import signals
from core.db.models import Account, AccountQueue, CreditHold, Job
from core.db.statuses import JobStatus

ACCOUNTS = Account.__table__
QUEUES = AccountQueue.__table__
JOBS = Job.__table__
HOLDS = CreditHold.__table__


@dataclass(slots=True)
class Payer:
    """An account as the batch charges it: updated in memory as each of its orders is decided."""

    subscription: int
    one_time: int
    frozen_reason: str | None
    queued: int


_QUEUED = select(QUEUES.c.queued).where(QUEUES.c.account_id == ACCOUNTS.c.id).scalar_subquery()
_PAYERS = (
    select(
        ACCOUNTS.c.id,
        ACCOUNTS.c.balance_subscription,
        ACCOUNTS.c.balance_one_time,
        ACCOUNTS.c.frozen_reason,
        func.coalesce(_QUEUED, 0),
    )
    .where(ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(ACCOUNTS.c.id)  # PostgreSQL: locked in one order by every batch, so none deadlock
    .with_for_update(of=ACCOUNTS, key_share=True)  # as credits.lock: rows referencing the account may go on
)


async def payers(session: AsyncSession, account_ids: Collection[int]) -> dict[int, Payer]:
    """Each account's balances, freeze and queued jobs, its row held until the transaction ends
    (PostgreSQL; SQLite's write transaction is exclusive already). An account erased since is absent."""
    rows = await (await session.connection()).execute(_PAYERS, {"ids": sorted(account_ids)})
    return {
        account: Payer(subscription, one_time, frozen, queued)
        for account, subscription, one_time, frozen, queued in rows
    }


@dataclass(frozen=True, slots=True)
class Numbers:
    job_ids: list[int]  # ascending
    hold_ids: list[int]
    ahead: int  # jobs queued before these


_AHEAD = select(func.count()).select_from(JOBS).where(JOBS.c.status == JobStatus.QUEUED).scalar_subquery()
# SQLite: the transaction holds the only write lock, so the next numbers follow the largest.
_NUMBERS_SQLITE = select(
    func.coalesce(func.max(JOBS.c.id), 0) + 1,
    select(func.coalesce(func.max(HOLDS.c.id), 0) + 1).scalar_subquery(),
    _AHEAD,
)
# PostgreSQL draws them from the sequences, and wakes every process's workers at commit (one
# notification: identical ones in a transaction are delivered once).
_NUMBERS_POSTGRESQL = select(
    func.nextval(func.pg_get_serial_sequence("jobs", "id")),
    func.nextval(func.pg_get_serial_sequence("credit_holds", "id")),
    _AHEAD,
    func.pg_notify(signals.JOBS, ""),
).select_from(func.generate_series(1, bindparam("count", type_=Integer)))


async def numbers(session: AsyncSession, count: int) -> Numbers:
    """The numbers `count` new jobs and their holds will carry, so that holds, ledger entries and jobs
    name each other before their rows exist, and how many jobs are queued before them."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        rows = (await connection.execute(_NUMBERS_POSTGRESQL, {"count": count})).all()
        return Numbers(sorted(row[0] for row in rows), sorted(row[1] for row in rows), int(rows[0][2]))
    first_job, first_hold, ahead = (await connection.execute(_NUMBERS_SQLITE)).one()
    return Numbers(
        list(range(first_job, first_job + count)), list(range(first_hold, first_hold + count)), int(ahead)
    )
