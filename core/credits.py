"""The credits ledger: grant, reserve, settle, refund, balance.

Two buckets: `subscription` (refreshed each billing cycle, spent first) and `one_time` (packs, trial,
admin grants; never expire). Every operation is idempotent by key and runs inside the caller's
transaction, so a balance change and the entry that explains it commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import LedgerEntry
from core.db.repositories import ledger as repo
from core.db.repositories.ledger import Hold
from core.db.statuses import HoldStatus
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
    ADMIN_DEDUCT = "admin_deduct"  # an operator's correction, with the reason in the note
    RESTORE = "restore"  # a delivered image found unusable on review: what it charged given back
    CODE = "code"  # an operator's credit code, redeemed once per account
    REFERRAL = "referral"  # an invitation rewarded after the invitee's first purchase


class Restore(StrEnum):
    """What restoring a delivered job's credits came to."""

    RESTORED = "restored"
    ALREADY = "already"  # restored before: at most once per job
    REFUNDED = "refunded"  # the job failed or was cancelled: its credits came back then
    NOT_CHARGED = "not_charged"  # nothing was taken for it, or it is not finished yet


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

    Take it first: a transaction that changes both the account and its queue row (a job failing
    or cancelled, the intake) locks the account before the queue row, so none deadlocks on
    PostgreSQL. Rows that only reference the account (ledger entries) may be inserted meanwhile.
    """
    values = await repo.lock_balances(session, account_id)
    if values is None:
        raise UnknownAccount(account_id)
    return Balance(*values)


async def lock_all(session: AsyncSession, account_ids: Iterable[int | None]) -> None:
    """`lock` for several accounts (a member and the group wallet paying for them), in id order as
    the intake locks them, so none deadlocks."""
    for account_id in sorted({account_id for account_id in account_ids if account_id is not None}):
        await lock(session, account_id)


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


async def deduct(session: AsyncSession, account_id: int, amount: int, *, key: str, note: str) -> Balance:
    """An operator takes `amount` credits, one-time first (where grants go), then subscription; all or
    nothing (InsufficientCredits), never below zero. One entry per bucket touched, keyed `key:bucket`."""
    if amount <= 0:
        raise ValueError("a deduction takes a positive amount")
    current = await repo.lock_balances(session, account_id)
    if current is None:
        raise UnknownAccount(account_id)
    before = Balance(*current)
    if before.total < amount:
        raise InsufficientCredits(before, amount)
    from_one_time = min(amount, before.one_time)
    for bucket, taken in ((Bucket.ONE_TIME, from_one_time), (Bucket.SUBSCRIPTION, amount - from_one_time)):
        if not taken:
            continue
        if not await repo.change_balance(session, account_id, bucket, -taken):
            raise InsufficientCredits(before, amount)
        await repo.add_entry(
            session,
            account_id=account_id,
            bucket=bucket,
            delta=-taken,
            kind=EntryKind.ADMIN_DEDUCT,
            idempotency_key=f"{key}:{bucket}",
            reference=None,
            note=note,
        )
    return await balance(session, account_id)


@dataclass(frozen=True, slots=True)
class Taken:
    """Credits taken from an account's buckets, and its balance after."""

    subscription: int
    one_time: int
    balance: Balance


def split(balance: Balance, cost: int) -> tuple[int, int]:
    """(from subscription, from one-time): the subscription bucket is spent first."""
    from_subscription = min(balance.subscription, cost)
    return from_subscription, cost - from_subscription


async def take(
    session: AsyncSession,
    account_id: int,
    cost: int,
    *,
    known: Balance | None = None,
    where: tuple[ColumnElement[bool], ...] = (),
    params: dict[str, Any] | None = None,
) -> Taken | None:
    """Takes `cost` credits, subscription first, in one conditional UPDATE when `known` (the balance as
    the caller last read it) still holds; otherwise from the locked row. Raises InsufficientCredits;
    None when the balance allows it but `where` refuses. `where` is built once (the statement is
    cached on it); `params` binds its parameters."""
    if cost <= 0:
        raise ValueError("a reserve takes a positive amount")
    if known is not None and known.total >= cost:
        row = await repo.take(session, account_id, *split(known, cost), where=where, params=params)
        if row is not None:
            return _taken(known, cost, row)
    current = await lock(session, account_id)  # the balance moved since it was read, or was not read
    if current.total < cost:
        raise InsufficientCredits(current, cost)
    row = await repo.take(session, account_id, *split(current, cost), where=where, params=params)
    return None if row is None else _taken(current, cost, row)


def _taken(before: Balance, cost: int, row: Row[Any]) -> Taken:
    subscription, one_time = split(before, cost)
    return Taken(subscription, one_time, Balance(row[0], row[1]))


async def hold(
    session: AsyncSession, account_id: int, taken: Taken, *, key: str, reference: str | None = None
) -> Hold:
    """Records what `take` took as a hold, with one reserve entry per bucket it came from."""
    created = await repo.create_hold(
        session,
        account_id=account_id,
        idempotency_key=key,
        reference=reference,
        subscription=taken.subscription,
        one_time=taken.one_time,
    )
    await repo.add_entries(session, _reserve_entries([created]))
    return created


@dataclass(frozen=True, slots=True)
class NewHold:
    """A hold to open: its number (drawn by the caller), whose credits, how many from each bucket
    (as `split` gives them) and its key."""

    id: int
    account_id: int
    subscription: int
    one_time: int
    key: str
    reference: str | None = None
    member_id: int | None = None  # a group wallet's hold: the member it pays for


async def hold_each(session: AsyncSession, holds: Sequence[NewHold]) -> list[Hold]:
    """Takes each hold's credits and opens it with its reserve entries: one statement per table
    however many there are. The caller split the amounts from balances it read in this transaction
    with the accounts' rows locked, in order, so every take holds."""
    totals: dict[int, tuple[int, int]] = {}
    for new in holds:
        subscription, one_time = totals.get(new.account_id, (0, 0))
        totals[new.account_id] = (subscription + new.subscription, one_time + new.one_time)
    await repo.take_each(session, [(account, *amounts) for account, amounts in totals.items()])
    opened = [
        (Hold(new.id, new.account_id, new.subscription, new.one_time, new.reference, new.member_id), new.key)
        for new in holds
    ]
    await repo.create_holds(session, opened)
    created = [hold for hold, _ in opened]
    await repo.add_entries(session, _reserve_entries(created))
    return created


async def reserve(
    session: AsyncSession, account_id: int, cost: int, *, key: str, reference: str | None = None
) -> Hold:
    """Takes `cost` credits into a hold, subscription bucket first; the same key returns the same hold."""
    taken = await take(session, account_id, cost, where=(repo.HOLD_KEY_UNUSED,), params={"hold_key": key})
    if taken is None:
        existing = await repo.find_hold(session, key)
        assert existing is not None, "take refuses only a used key"
        return existing
    return await hold(session, account_id, taken, key=key, reference=reference)


async def settle(session: AsyncSession, hold_id: int) -> bool:
    """Closes a hold as spent; False when it was already settled or refunded."""
    closed = await repo.close_hold(session, hold_id, HoldStatus.SETTLED, utcnow())
    if closed is None:
        return False
    await repo.add_entries(
        session, [_entry(closed, bucket, 0, EntryKind.SETTLE) for bucket, _ in _split(closed)]
    )
    return True


async def refund(session: AsyncSession, hold_id: int) -> bool:
    """Closes a hold and gives its credits back to the buckets they came from; False if already closed."""
    closed = await repo.close_hold(session, hold_id, HoldStatus.REFUNDED, utcnow())
    if closed is None:
        return False
    await repo.give(session, closed.account_id, closed.subscription_amount, closed.one_time_amount)
    await repo.add_entries(
        session, [_entry(closed, bucket, amount, EntryKind.REFUND) for bucket, amount in _split(closed)]
    )
    return True


async def restore(session: AsyncSession, hold_id: int | None, *, key: str, note: str) -> tuple[Restore, int]:
    """Gives a settled hold's credits back to the buckets they came from, once per `key` (one entry
    per bucket, keyed `key:bucket`); (outcome, credits given). The account's row is locked first, so
    concurrent restores of one hold run one at a time and the later one finds the earlier's entry."""
    found = await repo.hold_with_status(session, hold_id) if hold_id is not None else None
    if found is None:
        return Restore.NOT_CHARGED, 0
    hold, status = found
    await lock(session, hold.account_id)
    if status == HoldStatus.REFUNDED:
        return Restore.REFUNDED, 0
    amounts = _split(hold)
    if status != HoldStatus.SETTLED or not amounts:
        return Restore.NOT_CHARGED, 0
    if await repo.entry_exists(session, f"{key}:{amounts[0][0]}"):
        return Restore.ALREADY, 0
    await repo.give(session, hold.account_id, hold.subscription_amount, hold.one_time_amount)
    for bucket, amount in amounts:
        await repo.add_entry(
            session,
            account_id=hold.account_id,
            bucket=bucket,
            delta=amount,
            kind=EntryKind.RESTORE,
            idempotency_key=f"{key}:{bucket}",
            reference=hold.reference or f"hold:{hold.id}",
            note=note,
        )
    return Restore.RESTORED, hold.subscription_amount + hold.one_time_amount


async def restored(session: AsyncSession, key: str) -> bool:
    """Whether `restore` with this key gave credits back already."""
    return any([await repo.entry_exists(session, f"{key}:{bucket}") for bucket in SPEND_ORDER])


async def key_used(session: AsyncSession, key: str) -> bool:
    """Whether an entry was written with this idempotency key."""
    return await repo.entry_exists(session, key)


async def recent_entries(session: AsyncSession, account_id: int, limit: int) -> list[LedgerEntry]:
    """The last entries that moved credits (settles, which move none, are left out)."""
    return await repo.entries(session, account_id, limit=limit)


async def all_entries(session: AsyncSession, account_id: int) -> list[LedgerEntry]:
    return await repo.entries(session, account_id)


def _reserve_entries(holds: Sequence[Hold]) -> list[dict[str, Any]]:
    return [
        _entry(hold, bucket, -amount, EntryKind.RESERVE) for hold in holds for bucket, amount in _split(hold)
    ]


def _split(hold: Hold) -> list[tuple[Bucket, int]]:
    amounts = {Bucket.SUBSCRIPTION: hold.subscription_amount, Bucket.ONE_TIME: hold.one_time_amount}
    return [(bucket, amounts[bucket]) for bucket in SPEND_ORDER if amounts[bucket] > 0]


def _entry(hold: Hold, bucket: Bucket, delta: int, kind: EntryKind) -> dict[str, Any]:
    return {
        "account_id": hold.account_id,
        "bucket": bucket,
        "delta": delta,
        "kind": kind,
        "idempotency_key": f"hold:{hold.id}:{kind}:{bucket}",
        "reference": hold.reference or f"hold:{hold.id}",
        "created_at": utcnow(),
        "member_id": hold.member_id,
    }
