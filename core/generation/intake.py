"""Paying for jobs and queueing them, many requests in one transaction.

Under a burst every `/imagine` would otherwise be a transaction of its own, and on SQLite one at a
time: the writes, not the platform, would set the pace. Orders that arrive while a batch is written
are written together as the next one (`core.batching`), with one statement per table: the payers'
rows read and locked, their holds and ledger entries, the jobs, the queue counts. Each order is
still decided alone, in arrival order, against the balance its predecessors left: a refused order
takes nothing and does not disturb the others. Should the batch fail as a whole (a constraint raced
on PostgreSQL, say), each of its orders is written again alone, so an order's outcome never depends
on its neighbours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from secrets import token_hex
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.batching import Batcher
from core.db.repositories import groups, orders, queue, references
from core.db.repositories.orders import Payer
from core.db.session import Database
from core.errors import UserError
from core.generation import admission
from core.groups import WalletCharge
from core.payments import freezes

log = logging.getLogger(__name__)

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Order:
    """A job to pay for and queue: who pays, what it costs and the job's columns."""

    account_id: int
    cost: int
    job: dict[str, Any]  # the job row's values but its number, status, hold and references
    references: tuple[str, ...] = ()
    request_key: str | None = None  # the chat message asking, once per message
    wallet: WalletCharge | None = None  # a group wallet pays, within its limits, not the account


@dataclass(slots=True)
class _Used:
    """Images a group wallet paid for today, by member: updated as the batch accepts orders."""

    by_member: dict[tuple[int, int], int]

    def of(self, wallet: int, member: int) -> int:
        return self.by_member.get((wallet, member), 0)

    def of_group(self, wallet: int) -> int:
        return sum(images for (owner, _), images in self.by_member.items() if owner == wallet)


@dataclass(frozen=True, slots=True)
class Queued:
    job_id: int
    position: int  # in the whole queue, 1 = next
    balance: credits.Balance  # the paying account's (or group wallet's), once this job is paid for


@dataclass(frozen=True, slots=True)
class _Accepted:
    order: Order
    subscription: int
    one_time: int
    balance: credits.Balance


Outcome = Queued | Exception


class Intake:
    def __init__(self, db: Database, *, max_queued: int, on_queued: Callable[[], None]) -> None:
        self._db = db
        self._max_queued = max_queued
        self._on_queued = on_queued
        self._batches: Batcher[Order, Queued] = Batcher(self._write, max_size=MAX_BATCH)

    async def queue(self, order: Order) -> Queued:
        """Reserves the order's cost and queues its job, or raises why not: a UserError (frozen,
        too few credits, queue full) or the database's own error (an IntegrityError for a chat
        message that already made a job). The same message twice in one batch gets one answer."""
        return await self._batches(order)

    async def _write(self, batch: Sequence[Order]) -> list[Outcome]:
        try:
            outcomes = await self._write_together(batch)
        except Exception:
            if len(batch) == 1:
                raise
            log.warning("a batch of %d orders failed; writing each alone", len(batch), exc_info=True)
            outcomes = [await self._alone(order) for order in batch]
        if any(isinstance(outcome, Queued) for outcome in outcomes):
            self._on_queued()
        return outcomes

    async def _alone(self, order: Order) -> Outcome:
        try:
            [outcome] = await self._write_together([order])
        except Exception as exc:
            return exc
        return outcome

    async def _write_together(self, batch: Sequence[Order]) -> list[Outcome]:
        async with self._db.transaction() as session:
            wallets = {order.wallet.account_id: order.wallet.since for order in batch if order.wallet}
            # The wallets' rows are locked with the members' (in one order): their use is read after,
            # so two members racing for the last credits or quota are decided one after the other.
            payers = await orders.payers(session, {order.account_id for order in batch} | set(wallets))
            used = _Used(await groups.usage(session, wallets, min(wallets.values())) if wallets else {})
            first: dict[str, int] = {}  # request key -> the batch's first order with it
            outcomes: list[Outcome | _Accepted] = []
            for order in batch:
                if order.request_key in first:  # delivered twice at once: the same answer
                    outcomes.append(outcomes[first[order.request_key]])
                    continue
                if order.request_key is not None:
                    first[order.request_key] = len(outcomes)
                outcomes.append(self._decide(order, payers, used))
            accepted = list({id(item): item for item in outcomes if isinstance(item, _Accepted)}.values())
            queued = await _queue(session, accepted) if accepted else {}
        for item in accepted:
            job = item.order.job
            log.info(
                "job %s queued: %sx%s x%s, %s credits",
                queued[id(item)].job_id,
                job["width"],
                job["height"],
                job["n"],
                item.order.cost,
            )
        return [queued[id(outcome)] if isinstance(outcome, _Accepted) else outcome for outcome in outcomes]

    def _decide(self, order: Order, payers: dict[int, Payer], used: _Used) -> _Accepted | Exception:
        """The order against its account (and group wallet) as the batch left them; what it takes,
        taken from the one that pays."""
        payer = payers.get(order.account_id)
        if payer is None:
            return credits.UnknownAccount(order.account_id)
        if payer.frozen_reason:
            return freezes.refusal(payer.frozen_reason)
        source, wallet, images = payer, order.wallet, int(order.job["n"])
        if wallet is not None:
            found = payers.get(wallet.account_id)
            if found is None:
                return credits.UnknownAccount(wallet.account_id)
            if found.frozen_reason:  # a purchase for the wallet was disputed
                return freezes.refusal(found.frozen_reason)
            source = found
            if refused := admission.over_group_limits(
                wallet,
                used_by_member=used.of(wallet.account_id, order.account_id),
                used_by_group=used.of_group(wallet.account_id),
                images=images,
            ):
                return refused
        if refused := admission.short_of_credits(
            source.subscription + source.one_time, order.cost, group=wallet is not None
        ):
            return refused
        if payer.queued >= self._max_queued:
            return UserError("queue_full", limit=self._max_queued)
        subscription, one_time = credits.split(
            credits.Balance(source.subscription, source.one_time), order.cost
        )
        source.subscription -= subscription
        source.one_time -= one_time
        payer.queued += 1
        if wallet is not None:
            key = (wallet.account_id, order.account_id)
            used.by_member[key] = used.of(*key) + images
        return _Accepted(order, subscription, one_time, credits.Balance(source.subscription, source.one_time))


async def _queue(session: AsyncSession, accepted: list[_Accepted]) -> dict[int, Queued]:
    """Holds the credits of the accepted orders and queues their jobs, numbered in arrival order;
    their outcomes by `id()` of each."""
    numbers = await orders.numbers(session, len(accepted))
    job_ids = numbers.job_ids
    # On SQLite a job number comes back once the newest job is erased: the token keeps the hold's
    # key unique forever.
    holds = await credits.hold_each(
        session,
        [
            credits.NewHold(
                hold_id,
                item.order.wallet.account_id if item.order.wallet else item.order.account_id,
                item.subscription,
                item.one_time,
                key=f"job:{job_id}:{token_hex(4)}",
                reference=f"job:{job_id}",
                member_id=item.order.account_id if item.order.wallet else None,
            )
            for item, job_id, hold_id in zip(accepted, job_ids, numbers.hold_ids, strict=True)
        ],
    )
    rows = [
        {
            **item.order.job,
            "id": job_id,
            "account_id": item.order.account_id,
            "cost": item.order.cost,
            "hold_id": hold.id,
            "wallet_id": item.order.wallet.account_id if item.order.wallet else None,
            "references": list(item.order.references),
            "request_key": item.order.request_key,
        }
        for item, job_id, hold in zip(accepted, job_ids, holds, strict=True)
    ]
    await queue.insert_queued(session, rows)
    await references.record(
        session, {job_id: item.order.references for item, job_id in zip(accepted, job_ids, strict=True)}
    )
    return {
        id(item): Queued(job_id, place, item.balance)
        for place, (item, job_id) in enumerate(zip(accepted, job_ids, strict=True), start=numbers.ahead + 1)
    }
