"""Money that goes back: refunds, disputes (chargebacks) and early fraud warnings, for packs and for a
plan's billing cycles alike. A payment is found by its PaymentIntent, which a plan's cycle learns from
the invoice's InvoicePayment when it is paid."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.models import Payment
from core.db.repositories import payments as repo
from core.db.repositories.support import audit
from core.db.statuses import PaymentStatus
from core.growth import referrals
from core.payments.event_context import EventContext
from core.payments.freezes import FreezeReason

log = logging.getLogger(__name__)

WON = frozenset({"won", "warning_closed"})  # an inquiry that closes without a chargeback is won too


async def charge_refunded(ctx: EventContext, charge: dict[str, Any]) -> None:
    payment = await _payment_of(ctx, charge)
    if payment is None:
        return  # not a purchase made through the bot
    amount = int(charge.get("amount") or payment.amount or 0)
    refunded = int(charge.get("amount_refunded") or 0)
    whole = not amount or refunded >= amount
    share = payment.credits if whole else -(-payment.credits * refunded // amount)
    taken = await reclaim(ctx.session, payment, share, key=f"stripe:{charge['id']}:refunded:{refunded}")
    if whole:
        await referrals.take_back_rewards(ctx.session, payment, ctx.default_language)
    if taken is None:
        return
    payment.status = PaymentStatus.REFUNDED if refunded >= amount else PaymentStatus.PARTIALLY_REFUNDED
    balance = await credits.balance(ctx.session, payment.account_id)
    await ctx.tell(
        payment.account_id,
        await _chat(ctx, payment),
        "payment.refunded",
        f"payment:refund:{charge['id']}:{refunded}",
        credits=taken,
        balance=balance.total,
    )


async def dispute_opened(ctx: EventContext, dispute: dict[str, Any]) -> None:
    """New images pause while the bank looks into the payment; the buyer is told why and where to ask."""
    payment = await _payment_of(ctx, dispute)
    if payment is None:
        return
    payment.status = PaymentStatus.DISPUTED
    if await repo.frozen_reason(ctx.session, payment.account_id) != FreezeReason.DISPUTE_LOST:
        await repo.set_frozen(ctx.session, payment.account_id, FreezeReason.DISPUTE)
    await ctx.tell(
        payment.account_id, await _chat(ctx, payment), "payment.disputed", f"payment:dispute:{dispute['id']}"
    )


async def dispute_closed(ctx: EventContext, dispute: dict[str, Any]) -> None:
    """Won: the pause lifts (unless something else keeps it). Lost: the payment's credits go back and
    the pause stays until an operator reviews the account."""
    payment = await _payment_of(ctx, dispute)
    if payment is None:
        return
    chat = await _chat(ctx, payment)
    status = str(dispute.get("status"))
    if status in WON:
        if payment.status == PaymentStatus.DISPUTED:
            payment.status = PaymentStatus.PAID
        if await _lift_dispute_pause(ctx, payment.account_id):
            await ctx.tell(
                payment.account_id, chat, "payment.dispute_won", f"payment:dispute-won:{dispute['id']}"
            )
        return
    if status != "lost":
        return
    owed = payment.credits  # the bank gave the whole amount back
    taken = await reclaim(ctx.session, payment, owed, key=f"stripe:{dispute['id']}:lost")
    await referrals.take_back_rewards(ctx.session, payment, ctx.default_language)
    if taken is None:
        return
    payment.status = PaymentStatus.DISPUTE_LOST
    await repo.set_frozen(ctx.session, payment.account_id, FreezeReason.DISPUTE_LOST)
    balance = await credits.balance(ctx.session, payment.account_id)
    await ctx.tell(
        payment.account_id,
        chat,
        "payment.dispute_lost",
        f"payment:dispute-lost:{dispute['id']}",
        credits=taken,
        balance=balance.total,
    )


async def fraud_warning(ctx: EventContext, warning: dict[str, Any]) -> None:
    """Recorded for operators (`image2bot users show`); no automatic action: most warnings are not
    followed by a dispute, and refunding is a person's decision."""
    payment = await _payment_of(ctx, warning)
    await audit(
        ctx.session,
        actor="stripe",
        action="early_fraud_warning",
        account_id=payment.account_id if payment else None,
        details={
            "warning": str(warning.get("id")),
            "charge": str(warning.get("charge")),
            "fraud_type": str(warning.get("fraud_type")),
            "actionable": bool(warning.get("actionable")),
            "payment": payment.id if payment else None,
        },
    )
    log.warning("stripe: early fraud warning on %s", "a known payment" if payment else "an unknown charge")


async def reclaim(session: AsyncSession, payment: Payment, share: int, *, key: str) -> int | None:
    """Takes back what is left of `share` of the payment's credits, recording what was already spent
    as the shortfall; None when this key was applied before. A plan cycle that a newer cycle replaced
    has nothing left to take: its credits expired with it. The buyer is locked with the accounts an
    invitation rewarded for this payment, in id order: a refund may take their rewards back."""
    await credits.lock_all(
        session, (payment.account_id, *await referrals.rewarded_accounts(session, payment))
    )
    await session.refresh(payment)  # another event on this payment may have committed meanwhile
    owed = share - payment.credits_reclaimed - payment.shortfall
    if owed <= 0:
        return None
    plan = payment.kind == "plan"
    expired = plan and await repo.newer_cycle_paid(session, payment)
    taken = await credits.take_back(
        session,
        payment.account_id,
        0 if expired else owed,
        key=key,
        bucket=credits.Bucket.SUBSCRIPTION if plan else credits.Bucket.ONE_TIME,
        reference=f"payment:{payment.id}",
    )
    if taken is None:
        return None
    payment.credits_reclaimed += taken
    payment.shortfall += owed - taken
    return taken


async def _lift_dispute_pause(ctx: EventContext, account_id: int) -> bool:
    """Unfreezes an account paused by open disputes once none is left open; True when it is free now."""
    reason = await repo.frozen_reason(ctx.session, account_id)
    if reason is None:
        return True
    if reason != FreezeReason.DISPUTE or await repo.has_open_dispute(ctx.session, account_id):
        return False
    await repo.set_frozen(ctx.session, account_id, None)
    return True


async def _payment_of(ctx: EventContext, obj: dict[str, Any]) -> Payment | None:
    intent = obj.get("payment_intent") or ctx.found.payment_intent
    return await repo.payment_by_intent(ctx.session, str(intent)) if intent else None


async def _chat(ctx: EventContext, payment: Payment) -> str | None:
    return await repo.chat_of(ctx.session, payment)
