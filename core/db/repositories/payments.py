"""Payments, stored Stripe events, subscriptions and the checkouts we posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import leases, upsert
from core.db.leases import Lease
from core.db.models import Account, Checkout, Payment, PrivacyProfile, StripeEvent, Subscription
from core.db.statuses import PaymentStatus, SubscriptionStatus

# --- events -----------------------------------------------------------------------------------------


async def store_event(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Keeps a verified event once; False when it was already stored."""
    if await session.get(StripeEvent, event["id"]) is not None:
        return False
    try:
        async with session.begin_nested():  # the same event may be arriving in parallel
            session.add(
                StripeEvent(
                    id=event["id"], type=event["type"], payload=event, created=int(event.get("created", 0))
                )
            )
    except IntegrityError:
        return False
    return True


EVENTS = StripeEvent.__table__
EVENT_LEASE = Lease(EVENTS.c.claimed_by, EVENTS.c.claimed_until)


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: str
    payload: dict[str, Any]
    attempts: int  # failed attempts so far


async def claim_due_events(
    session: AsyncSession, *, owner: str, now: datetime, until: datetime, limit: int
) -> list[ClaimedEvent]:
    """The oldest (by Stripe's clock) unhandled events whose retry time has come and that no other
    process holds, claimed for `owner` until `until`, in Stripe's order."""
    due = (
        select(EVENTS.c.id)
        .where(EVENTS.c.handled_at.is_(None), EVENTS.c.next_attempt_at <= now, EVENT_LEASE.free(now))
        .order_by(EVENTS.c.created, EVENTS.c.received_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(
        update(EVENTS)
        .where(EVENTS.c.id.in_(due))
        .values(EVENT_LEASE.take(owner, until))
        .returning(EVENTS.c.id, EVENTS.c.payload, EVENTS.c.attempts, EVENTS.c.created, EVENTS.c.received_at)
    )
    ordered = sorted(rows, key=lambda row: (row.created, row.received_at))
    return [ClaimedEvent(row.id, row.payload, row.attempts) for row in ordered]


async def mark_handled(session: AsyncSession, event_id: str, owner: str, now: datetime) -> bool:
    """Marks the event handled, in the transaction that handles it, while `owner` still holds it;
    False when it was handled meanwhile or its claim lapsed and another process took it."""
    result = await session.execute(
        update(EVENTS)
        .where(EVENTS.c.id == event_id, EVENTS.c.handled_at.is_(None), EVENT_LEASE.held_by(owner))
        .values(handled_at=now, **EVENT_LEASE.cleared())
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def mark_failed(
    session: AsyncSession,
    event_id: str,
    owner: str,
    *,
    attempts: int,
    next_attempt_at: datetime,
    error: str,
    given_up_at: datetime | None,
) -> None:
    """Schedules the next attempt, or sets the event aside for good (`given_up_at`); ends the claim."""
    await session.execute(
        update(EVENTS)
        .where(EVENTS.c.id == event_id, EVENTS.c.handled_at.is_(None), EVENT_LEASE.held_by(owner))
        .values(
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            error=error[:200],
            handled_at=given_up_at,
            **EVENT_LEASE.cleared(),
        )
    )


async def release_events(session: AsyncSession, owner: str) -> None:
    """Gives back the events `owner` claimed and did not get to handle (the process is stopping)."""
    await leases.release(session, EVENTS, EVENT_LEASE, owner, EVENTS.c.handled_at.is_(None))


# --- checkouts, payments, subscriptions ---------------------------------------------------------------


async def add_checkout(session: AsyncSession, **fields: Any) -> None:
    session.add(Checkout(**fields))
    await session.flush()


async def checkout(session: AsyncSession, checkout_id: str) -> Checkout | None:
    return await session.get(Checkout, checkout_id)


async def payment(session: AsyncSession, provider: str, reference: str) -> Payment | None:
    return await session.scalar(
        select(Payment).where(Payment.provider == provider, Payment.reference == reference)
    )


async def payment_by_intent(session: AsyncSession, payment_intent: str) -> Payment | None:
    return await session.scalar(select(Payment).where(Payment.payment_intent == payment_intent))


async def newer_cycle_paid(session: AsyncSession, payment: Payment) -> bool:
    """Whether a later billing cycle of the same subscription was paid after this one."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    Payment.provider == payment.provider,
                    Payment.subscription == payment.subscription,
                    Payment.id > payment.id,
                )
            )
        )
    )


async def last_cycle(session: AsyncSession, provider: str, subscription_id: str) -> Payment | None:
    """The newest paid cycle of a subscription."""
    return await session.scalar(
        select(Payment)
        .where(Payment.provider == provider, Payment.subscription == subscription_id)
        .order_by(Payment.id.desc())
        .limit(1)
    )


async def last_disputed(session: AsyncSession, account_id: int) -> Payment | None:
    """The account's newest payment whose dispute is open or was lost."""
    return await session.scalar(
        select(Payment)
        .where(
            Payment.account_id == account_id,
            Payment.status.in_((PaymentStatus.DISPUTED, PaymentStatus.DISPUTE_LOST)),
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


async def chat_of(session: AsyncSession, payment: Payment) -> str | None:
    """Where to tell the buyer about a payment: its subscription's chat, else the purchase's."""
    if payment.subscription:
        stored = await session.get(Subscription, payment.subscription)
        if stored is not None:
            return stored.chat
    return payment.chat


async def has_open_dispute(session: AsyncSession, account_id: int) -> bool:
    return bool(
        await session.scalar(
            select(exists().where(Payment.account_id == account_id, Payment.status == PaymentStatus.DISPUTED))
        )
    )


async def add_payment(session: AsyncSession, **fields: Any) -> Payment:
    row = Payment(**fields)
    session.add(row)
    await session.flush()
    return row


async def payments_of(session: AsyncSession, account_id: int, limit: int) -> list[Payment]:
    result = await session.scalars(
        select(Payment).where(Payment.account_id == account_id).order_by(Payment.id.desc()).limit(limit)
    )
    return list(result)


async def subscription(session: AsyncSession, subscription_id: str) -> Subscription | None:
    return await session.get(Subscription, subscription_id)


GIVING_CREDITS = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


async def current_subscription(session: AsyncSession, account_id: int) -> Subscription | None:
    """The account's newest subscription that still gives credits (active, trialing or past due)."""
    return await session.scalar(
        select(Subscription)
        .where(Subscription.account_id == account_id, Subscription.status.in_(GIVING_CREDITS))
        .order_by(Subscription.updated_at.desc())
        .limit(1)
    )


async def save_subscription(session: AsyncSession, subscription_id: str, **fields: Any) -> Subscription:
    """Records what Stripe said of a subscription: a field given as None keeps what is stored. The
    first word of a new subscription may come from two events at once (its checkout and its first
    invoice, in two processes): the later insert updates the row the earlier one made."""
    row = await session.get(Subscription, subscription_id)
    if row is None:
        insert = upsert.insert(session, Subscription).values(id=subscription_id, **fields)
        told = {name: insert.excluded[name] for name, value in fields.items() if value is not None}
        await session.execute(insert.on_conflict_do_update(index_elements=[Subscription.id], set_=told))
        row = await session.get(Subscription, subscription_id, populate_existing=True)
        assert row is not None
        return row
    for name, value in fields.items():
        if value is not None:
            setattr(row, name, value)
    await session.flush()
    return row


async def surviving_account(session: AsyncSession, account_id: int) -> int:
    """The account that holds this one's credits now: itself, or the one `/link` joined it into."""
    seen = {account_id}
    while True:
        merged_into = await session.scalar(
            select(PrivacyProfile.merged_into).where(PrivacyProfile.account_id == account_id)
        )
        if merged_into is None or merged_into in seen:
            return account_id
        seen.add(merged_into)
        account_id = merged_into


async def set_frozen(session: AsyncSession, account_id: int, reason: str | None) -> None:
    await session.execute(update(Account).where(Account.id == account_id).values(frozen_reason=reason))


async def frozen_reason(session: AsyncSession, account_id: int) -> str | None:
    return await session.scalar(select(Account.frozen_reason).where(Account.id == account_id))


async def lapsed_subscriptions(
    session: AsyncSession, id_prefix: str, ended_before: datetime, limit: int
) -> list[Subscription]:
    """Subscriptions (of ids starting `id_prefix`) still giving credits whose paid period ended
    before `ended_before`, locked for the transaction that ends them."""
    result = await session.scalars(
        select(Subscription)
        .where(
            Subscription.id.startswith(id_prefix, autoescape=True),
            Subscription.status.in_(GIVING_CREDITS),
            Subscription.current_period_end < ended_before,
        )
        .order_by(Subscription.current_period_end)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result)
