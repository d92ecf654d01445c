"""Ledger entries, cached balances and credit holds.

Balances change only through `change_balance`, a conditional UPDATE that can never take a bucket
below zero, always in the same transaction as the entry that explains the change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Account, CreditHold, LedgerEntry

BALANCE_COLUMNS = {"subscription": Account.balance_subscription, "one_time": Account.balance_one_time}


async def lock_balances(session: AsyncSession, account_id: int) -> tuple[int, int] | None:
    """(subscription, one_time), holding the account row until the transaction ends (PostgreSQL).

    On SQLite the whole write transaction is already exclusive (BEGIN IMMEDIATE).
    """
    row = (
        await session.execute(
            select(Account.balance_subscription, Account.balance_one_time)
            .where(Account.id == account_id)
            .with_for_update()
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


async def find_hold(session: AsyncSession, idempotency_key: str) -> CreditHold | None:
    return await session.scalar(select(CreditHold).where(CreditHold.idempotency_key == idempotency_key))


async def create_hold(
    session: AsyncSession,
    *,
    account_id: int,
    idempotency_key: str,
    reference: str | None,
    subscription: int,
    one_time: int,
) -> CreditHold:
    hold = CreditHold(
        account_id=account_id,
        idempotency_key=idempotency_key,
        reference=reference,
        subscription_amount=subscription,
        one_time_amount=one_time,
        status="held",
    )
    session.add(hold)
    await session.flush()
    return hold


async def close_hold(session: AsyncSession, hold_id: int, status: str, now: datetime) -> CreditHold | None:
    """Moves a hold from `held` to `status`; None when it was already closed (by either path)."""
    result = await session.execute(
        update(CreditHold)
        .where(CreditHold.id == hold_id, CreditHold.status == "held")
        .values(status=status, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.scalar(
        select(CreditHold).where(CreditHold.id == hold_id).execution_options(populate_existing=True)
    )
