"""Ledger entries, cached balances and credit holds.

Balances change only through `change_balance`, a conditional UPDATE that can never take a bucket
below zero, always in the same transaction as the entry that explains the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate

from core.db.models import Account, CreditHold, LedgerEntry
from core.db.statuses import HoldStatus

BALANCE_COLUMNS = {"subscription": Account.balance_subscription, "one_time": Account.balance_one_time}


async def lock_balances(session: AsyncSession, account_id: int) -> tuple[int, int] | None:
    """(subscription, one_time), holding the account row until the transaction ends (PostgreSQL).

    The lock is FOR NO KEY UPDATE: it orders the account's credit operations, yet lets other
    transactions insert rows that reference the account (a ledger entry's foreign key only shares the
    key), so a worker recording a job never waits on it while holding the queue's row.
    On SQLite the whole write transaction is already exclusive (BEGIN IMMEDIATE).
    """
    row = (
        await session.execute(
            select(Account.balance_subscription, Account.balance_one_time)
            .where(Account.id == account_id)
            .with_for_update(key_share=True)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def read_balances(session: AsyncSession, account_id: int) -> tuple[int, int] | None:
    row = (
        await session.execute(
            select(Account.balance_subscription, Account.balance_one_time).where(Account.id == account_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def change_balance(session: AsyncSession, account_id: int, bucket: str, delta: int) -> bool:
    column = BALANCE_COLUMNS[bucket]
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, column + delta >= 0)
        .values({column: column + delta})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def entry_exists(session: AsyncSession, idempotency_key: str) -> bool:
    found = await session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == idempotency_key))
    return found is not None


async def entry_delta(session: AsyncSession, idempotency_key: str) -> int | None:
    """What the entry with this key changed the balance by; None when there is none."""
    return await session.scalar(
        select(LedgerEntry.delta).where(LedgerEntry.idempotency_key == idempotency_key)
    )


async def add_entry(
    session: AsyncSession,
    *,
    account_id: int,
    bucket: str,
    delta: int,
    kind: str,
    idempotency_key: str,
    reference: str | None,
    note: str | None = None,
) -> None:
    session.add(
        LedgerEntry(
            account_id=account_id,
            bucket=bucket,
            delta=delta,
            kind=kind,
            idempotency_key=idempotency_key,
            reference=reference,
            note=note,
        )
    )
    await session.flush()


async def entries(session: AsyncSession, account_id: int, *, limit: int | None = None) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id.desc())
    if limit is not None:
        query = query.where(LedgerEntry.delta != 0).limit(limit)
    return list(await session.scalars(query))


async def sums_by_bucket(session: AsyncSession, account_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(LedgerEntry.bucket, func.coalesce(func.sum(LedgerEntry.delta), 0))
        .where(LedgerEntry.account_id == account_id)
        .group_by(LedgerEntry.bucket)
    )
    return {bucket: int(total) for bucket, total in rows.all()}


# The hot path (reserve, settle, refund) runs Core statements on the tables: no ORM unit of work.
ACCOUNTS = Account.__table__
HOLDS = CreditHold.__table__
ENTRIES = LedgerEntry.__table__


@dataclass(frozen=True, slots=True)
class Hold:
    """A credit hold as the ledger reads it: what it took from each bucket, and for what."""

    id: int
    account_id: int
    subscription_amount: int
    one_time_amount: int
    reference: str | None
    member_id: int | None = None  # a group wallet's hold: the member it pays for


HOLD_COLUMNS = (
    HOLDS.c.id,
    HOLDS.c.account_id,
    HOLDS.c.subscription_amount,
    HOLDS.c.one_time_amount,
    HOLDS.c.reference,
    HOLDS.c.member_id,
)


async def find_hold(session: AsyncSession, idempotency_key: str) -> Hold | None:
    row = (
        await session.execute(select(*HOLD_COLUMNS).where(HOLDS.c.idempotency_key == idempotency_key))
    ).one_or_none()
    return None if row is None else Hold(*row)


async def hold_with_status(session: AsyncSession, hold_id: int) -> tuple[Hold, HoldStatus] | None:
    row = (
        await session.execute(select(*HOLD_COLUMNS, HOLDS.c.status).where(HOLDS.c.id == hold_id))
    ).one_or_none()
    return None if row is None else (Hold(*row[:-1]), HoldStatus(row[-1]))


# Conditions a caller of `take` may add (built once: the statement is cached on them).
HOLD_KEY_UNUSED = ~exists().where(HOLDS.c.idempotency_key == bindparam("hold_key"))

_TAKE_SUBSCRIPTION = bindparam("take_subscription", type_=Integer)
_TAKE_ONE_TIME = bindparam("take_one_time", type_=Integer)
_TAKE = (
    update(ACCOUNTS)
    .where(
        ACCOUNTS.c.id == bindparam("account_id", type_=Integer),
        ACCOUNTS.c.balance_subscription >= _TAKE_SUBSCRIPTION,
        ACCOUNTS.c.balance_one_time >= _TAKE_ONE_TIME,
        # Subscription credits are spent first: one-time credits only once the subscription is empty.
        or_(_TAKE_ONE_TIME == 0, ACCOUNTS.c.balance_subscription == _TAKE_SUBSCRIPTION),
    )
    .values(
        balance_subscription=ACCOUNTS.c.balance_subscription - _TAKE_SUBSCRIPTION,
        balance_one_time=ACCOUNTS.c.balance_one_time - _TAKE_ONE_TIME,
    )
)


@cache
def _take_statement(where: tuple[ColumnElement[bool], ...]) -> ReturningUpdate[Any]:
    return _TAKE.where(*where).returning(ACCOUNTS.c.balance_subscription, ACCOUNTS.c.balance_one_time)


async def take(
    session: AsyncSession,
    account_id: int,
    subscription: int,
    one_time: int,
    *,
    where: tuple[ColumnElement[bool], ...] = (),
    params: dict[str, Any] | None = None,
) -> Row[Any] | None:
    """Takes exactly these amounts, subscription first, in one conditional UPDATE that returns the new
    (subscription, one_time); None when the balances no longer allow it (or `where` fails). `where` is
    built once by the caller (the statement is cached on it); `params` binds its parameters."""
    values = {
        "account_id": account_id,
        "take_subscription": subscription,
        "take_one_time": one_time,
        **(params or {}),
    }
    return (await session.execute(_take_statement(where), values)).one_or_none()


async def give(session: AsyncSession, account_id: int, subscription: int, one_time: int) -> None:
    """Puts credits back into both buckets at once (a refunded hold)."""
    await session.execute(
        update(ACCOUNTS)
        .where(ACCOUNTS.c.id == account_id)
        .values(
            balance_subscription=ACCOUNTS.c.balance_subscription + subscription,
            balance_one_time=ACCOUNTS.c.balance_one_time + one_time,
        )
    )


async def take_each(session: AsyncSession, takes: Sequence[tuple[int, int, int]]) -> None:
    """Takes (account, subscription, one_time) from each account, by the same conditional UPDATE as
    `take`, sent as one batch. The caller decided the amounts from balances it read in this
    transaction with the rows locked, so each holds; one that did not would meet the balances' CHECK
    constraints, or (where the driver counts a batch's rows) raise here."""
    connection = await session.connection()
    values = [
        {"account_id": account, "take_subscription": subscription, "take_one_time": one_time}
        for account, subscription, one_time in takes
    ]
    result = await connection.execute(_TAKE, values)
    if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(values):
        raise RuntimeError("a balance moved while its account's row was locked")


async def create_hold(
    session: AsyncSession,
    *,
    account_id: int,
    idempotency_key: str,
    reference: str | None,
    subscription: int,
    one_time: int,
) -> Hold:
    values = {
        "account_id": account_id,
        "idempotency_key": idempotency_key,
        "reference": reference,
        "subscription_amount": subscription,
        "one_time_amount": one_time,
        "status": HoldStatus.HELD,
    }
    hold_id = await session.scalar(_CREATE_HOLD, values)
    assert hold_id is not None
    return Hold(hold_id, account_id, subscription, one_time, reference)


async def create_holds(session: AsyncSession, holds: Sequence[tuple[Hold, str]]) -> None:
    """Creates these `held` holds (each with its idempotency key), numbers given, in one round trip."""
    values = [
        {
            "id": hold.id,
            "account_id": hold.account_id,
            "idempotency_key": key,
            "reference": hold.reference,
            "subscription_amount": hold.subscription_amount,
            "one_time_amount": hold.one_time_amount,
            "status": HoldStatus.HELD,
            "member_id": hold.member_id,
        }
        for hold, key in holds
    ]
    await (await session.connection()).execute(_CREATE_HOLDS, values)


async def add_entries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Appends entries in one round trip. Each row names account_id, bucket, delta, kind,
    idempotency_key and reference."""
    if rows:
        await session.execute(_ADD_ENTRY, [{"note": None, "member_id": None, **row} for row in rows])


async def close_hold(session: AsyncSession, hold_id: int, status: HoldStatus, now: datetime) -> Hold | None:
    """Moves a hold from `held` to `status`; None when it was already closed (by either path)."""
    values = {"hold_id": hold_id, "status": status, "closed_at": now}
    row = (await session.execute(_CLOSE_HOLD, values)).one_or_none()
    return None if row is None else Hold(*row)


_CREATE_HOLD = insert(HOLDS).returning(HOLDS.c.id)
_CREATE_HOLDS = insert(HOLDS)
_ADD_ENTRY = insert(ENTRIES)
_CLOSE_HOLD = (
    update(HOLDS)
    .where(HOLDS.c.id == bindparam("hold_id", type_=Integer), HOLDS.c.status == HoldStatus.HELD)
    .returning(*HOLD_COLUMNS)
)
