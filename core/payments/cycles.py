"""A plan's billing cycle starts: the one code path for a paid Stripe invoice and a Stars
subscription payment (the first one and each renewal). The subscription is recorded as active until
the paid period's end and its credits bucket is refreshed exactly once per cycle, keyed by the
provider's own id for the payment (the invoice, the Telegram charge), in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import credits
from core.db.repositories import payments as repo
from core.db.statuses import PaymentStatus, SubscriptionStatus
from core.growth import referrals
from core.payments.catalogue import Plan
from core.payments.event_context import EventContext


@dataclass(frozen=True, slots=True)
class Cycle:
    provider: str  # stripe | telegram_stars
    subscription_id: str
    reference: str  # the provider's id of this cycle's payment: its idempotency key
    account_id: int
    plan: Plan
    chat: str | None  # where the buyer is told
    customer: str | None
    period_end: datetime | None
    amount: int | None
    currency: str | None
    payment_intent: str | None = None
    receipt_url: str | None = None


async def start_cycle(ctx: EventContext, cycle: Cycle) -> bool:
    """Records the cycle and refreshes the bucket; False when this payment was counted before."""
    await repo.save_subscription(
        ctx.session,
        cycle.subscription_id,
        account_id=cycle.account_id,
        plan=cycle.plan.id,
        status=SubscriptionStatus.ACTIVE,
        customer=cycle.customer,
        chat=cycle.chat,
        current_period_end=cycle.period_end,
    )
    await credits.lock(ctx.session, cycle.account_id)
    if not await credits.set_subscription(
        ctx.session,
        cycle.account_id,
        cycle.plan.credits_per_cycle,
        key=f"{cycle.provider}:{cycle.reference}",
        reference=f"plan:{cycle.plan.id}",
    ):
        return False
    payment = await repo.add_payment(
        ctx.session,
        account_id=cycle.account_id,
        provider=cycle.provider,
        reference=cycle.reference,
        kind="plan",
        item=cycle.plan.id,
        credits=cycle.plan.credits_per_cycle,
        amount=cycle.amount,
        currency=cycle.currency,
        status=PaymentStatus.PAID,
        payment_intent=cycle.payment_intent,
        customer=cycle.customer,
        subscription=cycle.subscription_id,
        chat=cycle.chat,
        receipt_url=cycle.receipt_url,
    )
    await referrals.reward_first_purchase(
        ctx.session, cycle.account_id, payment, cycle.chat, ctx.referrals, ctx.default_language
    )
    balance = await credits.balance(ctx.session, cycle.account_id)
    await ctx.tell(
        cycle.account_id,
        cycle.chat,
        "payment.cycle",
        f"payment:{cycle.reference}",
        plan=cycle.plan,
        credits=cycle.plan.credits_per_cycle,
        balance=balance.total,
    )
    return True
