"""The credits ledger: grant, reserve, settle, refund, balance.

Two buckets: `subscription` (refreshed each billing cycle, spent first) and `one_time` (packs, trial,
admin grants; never expire). Every operation is idempotent by key and runs inside the caller's
transaction, so a balance change and the entry that explains it commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import CreditHold, LedgerEntry
from core.db.repositories import ledger as repo
from core.db.types import utcnow


class Bucket(StrEnum):
    SUBSCRIPTION = "subscription"
    ONE_TIME = "one_time"


SPEND_ORDER = (Bucket.SUBSCRIPTION, Bucket.ONE_TIME)


class EntryKind(StrEnum):
    TRIAL = "trial"
    ADMIN_GRANT = "admin_grant"
    RESERVE = "reserve"
    SETTLE = "settle"
    REFUND = "refund"
    PURCHASE = "purchase"
    SUBSCRIPTION_CYCLE = "subscription_cycle"
    REVERSAL = "reversal"  # a purchase refunded or disputed: its credits taken back


@dataclass(frozen=True, slots=True)
class Balance:
    subscription: int
    one_time: int

    @property
    def total(self) -> int:
        return self.subscription + self.one_time

    def as_dict(self) -> dict[str, int]:
        return {"subscription": self.subscription, "one_time": self.one_time, "total": self.total}


class InsufficientCredits(Exception):
    def __init__(self, balance: Balance, cost: int) -> None:
        super().__init__(f"balance {balance.total} < cost {cost}")
        self.balance = balance
        self.cost = cost


class UnknownAccount(Exception):
    pass


async def lock(session: AsyncSession, account_id: int) -> Balance:
    """Holds the account's row until the transaction ends, so its credit operations run one at a time.

    Take it before inserting rows that reference the account: their foreign-key locks would
    otherwise deadlock against a later FOR UPDATE on PostgreSQL.
    """
    values = await repo.lock_balances(session, account_id)
    if values is None:
        raise UnknownAccount(account_id)
    return Balance(*values)


async def balance(session: AsyncSession, account_id: int) -> Balance:
    values = await repo.read_balances(session, account_id)
    if values is None:
        raise UnknownAccount(account_id)
    return Balance(*values)


async def grant(
    session: AsyncSession,
    account_id: int,
    amount: int,
    *,
    kind: EntryKind,
    key: str,
    bucket: Bucket = Bucket.ONE_TIME,
    reference: str | None = None,
    note: str | None = None,
) -> bool:
    """Adds credits once per key; False when the key was already used."""
    if amount <= 0:
        raise ValueError("a grant adds a positive amount")
    if await repo.lock_balances(session, account_id) is None:
        raise UnknownAccount(account_id)
    if await repo.entry_exists(session, key):
        return False
    await repo.change_balance(session, account_id, bucket, amount)
    await repo.add_entry(
        session,
        account_id=account_id,
        bucket=bucket,
        delta=amount,
        kind=kind,
        idempotency_key=key,
        reference=reference,
        note=note,
    )
    return True


async def set_subscription(
    session: AsyncSession, account_id: int, credits: int, *, key: str, reference: str | None = None
) -> bool:
    """Starts a billing cycle: the subscription bucket becomes `credits` (what was left does not roll
    over), through one entry for the difference; False when the key was already used."""
    current = await repo.lock_balances(session, account_id)
    if current is None:
        raise UnknownAccount(account_id)
    if await repo.entry_exists(session, key):
        return False
    delta = credits - current[0]
    await repo.change_balance(session, account_id, Bucket.SUBSCRIPTION, delta)
    await repo.add_entry(
        session,
        account_id=account_id,
        bucket=Bucket.SUBSCRIPTION,
        delta=delta,
        kind=EntryKind.SUBSCRIPTION_CYCLE,
        idempotency_key=key,
        reference=reference,
    )
    return True


async def take_back(
    session: AsyncSession,
    account_id: int,
    amount: int,
    *,
    key: str,
    bucket: Bucket = Bucket.ONE_TIME,
    reference: str | None = None,
) -> int | None:
    """Takes back up to `amount` credits, never below zero; returns how many it took (None when the
    key was already used). What was already spent stays spent: the caller records the shortfall."""
    current = await repo.lock_balances(session, account_id)
    if current is None:
        raise UnknownAccount(account_id)
    if await repo.entry_exists(session, key):
        return None
    available = current[0] if bucket == Bucket.SUBSCRIPTION else current[1]
    taken = max(0, min(amount, available))
    if taken and not await repo.change_balance(session, account_id, bucket, -taken):
        raise InsufficientCredits(Balance(*current), taken)
    await repo.add_entry(
        session,
        account_id=account_id,
        bucket=bucket,
        delta=-taken,
        kind=EntryKind.REVERSAL,
        idempotency_key=key,
        reference=reference,
    )
    return taken


async def reserve(
    session: AsyncSession, account_id: int, cost: int, *, key: str, reference: str | None = None
) -> CreditHold:
    """Takes `cost` credits into a hold, subscription bucket first; the same key returns the same hold."""
    if cost <= 0:
        raise ValueError("a reserve takes a positive amount")
    current = await repo.lock_balances(session, account_id)
    if current is None:
        raise UnknownAccount(account_id)
    if existing := await repo.find_hold(session, key):
        return existing
    available = Balance(*current)
    if available.total < cost:
        raise InsufficientCredits(available, cost)
    from_subscription = min(available.subscription, cost)
    hold = await repo.create_hold(
        session,
        account_id=account_id,
        idempotency_key=key,
        reference=reference,
        subscription=from_subscription,
        one_time=cost - from_subscription,
    )
    for bucket, amount in _split(hold):
        if not await repo.change_balance(session, account_id, bucket, -amount):
            raise InsufficientCredits(available, cost)  # a concurrent writer got there first
        await _entry(session, hold, bucket, -amount, EntryKind.RESERVE)
    return hold


async def settle(session: AsyncSession, hold_id: int) -> bool:
    """Closes a hold as spent; False when it was already settled or refunded."""
    hold = await repo.close_hold(session, hold_id, "settled", utcnow())
    if hold is None:
        return False
    for bucket, _amount in _split(hold):
        await _entry(session, hold, bucket, 0, EntryKind.SETTLE)
    return True


async def refund(session: AsyncSession, hold_id: int) -> bool:
    """Closes a hold and gives its credits back to the buckets they came from; False if already closed."""
    hold = await repo.close_hold(session, hold_id, "refunded", utcnow())
    if hold is None:
        return False
    for bucket, amount in _split(hold):
        await repo.change_balance(session, hold.account_id, bucket, amount)
        await _entry(session, hold, bucket, amount, EntryKind.REFUND)
    return True


async def recent_entries(session: AsyncSession, account_id: int, limit: int) -> list[LedgerEntry]:
    """The last entries that moved credits (settles, which move none, are left out)."""
    return await repo.entries(session, account_id, limit=limit)


async def all_entries(session: AsyncSession, account_id: int) -> list[LedgerEntry]:
    return await repo.entries(session, account_id)


def _split(hold: CreditHold) -> list[tuple[Bucket, int]]:
    amounts = {Bucket.SUBSCRIPTION: hold.subscription_amount, Bucket.ONE_TIME: hold.one_time_amount}
    return [(bucket, amounts[bucket]) for bucket in SPEND_ORDER if amounts[bucket] > 0]


async def _entry(
    session: AsyncSession, hold: CreditHold, bucket: Bucket, delta: int, kind: EntryKind
) -> None:
    await repo.add_entry(
        session,
        account_id=hold.account_id,
        bucket=bucket,
        delta=delta,
        kind=kind,
        idempotency_key=f"hold:{hold.id}:{kind}:{bucket}",
        reference=hold.reference or f"hold:{hold.id}",
    )
