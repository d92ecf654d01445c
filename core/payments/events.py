"""What each Stripe event does to the ledger and the account, inside the transaction that handles it.

Every credit change is keyed by Stripe's own id (the Checkout Session, the invoice, the refund), so a
repeated, late or reconciled event changes nothing the second time. Events may come in any order:
one that refers to something not known yet raises `NotYet` and is retried later.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import credits
from core.db.repositories import groups
from core.db.repositories import payments as repo
from core.db.statuses import PaymentStatus, SubscriptionStatus
from core.growth import referrals
from core.payments import chargebacks
from core.payments.catalogue import Pack, Plan
from core.payments.cycles import Cycle, start_cycle
from core.payments.event_context import PROVIDER, EventContext, Lookups, NotYet, time_of

if TYPE_CHECKING:
    from core.payments.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
        "radar.early_fraud_warning.created",
    }
)
"""The event types `handle` acts on (the webhook endpoint should be sent these)."""
NAMES_ONLY_A_CHARGE = frozenset(
    {"charge.dispute.created", "charge.dispute.closed", "radar.early_fraud_warning.created"}
)


async def look_up(gateway: StripeGateway, event: dict[str, Any]) -> Lookups:
    """What the event needs from Stripe's API, asked before its transaction opens (no lock is held
    while Stripe answers). A failure here is retried like any other."""
    kind = event["type"]
    obj = event["data"]["object"]
    if kind == "invoice.paid" and _invoice_subscription(obj):
        return Lookups(payment_intent=await gateway.invoice_payment_intent(str(obj["id"])))
    if kind in NAMES_ONLY_A_CHARGE and not obj.get("payment_intent") and obj.get("charge"):
        return Lookups(payment_intent=await gateway.charge_payment_intent(str(obj["charge"])))
    return Lookups()


async def handle(ctx: EventContext, event: dict[str, Any]) -> None:
    kind = event["type"]
    obj = event["data"]["object"]
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        await checkout_completed(ctx, obj)
    elif kind == "checkout.session.async_payment_failed":
        if buyer := await _buyer(ctx, obj):
            await ctx.tell(buyer[0], buyer[2], "payment.failed", f"payment:failed:{obj['id']}")
    elif kind == "invoice.paid":
        await invoice_paid(ctx, obj)
    elif kind == "invoice.payment_failed":
        await invoice_failed(ctx, obj)
    elif kind in ("customer.subscription.updated", "customer.subscription.deleted"):
        await subscription_changed(ctx, obj, int(event.get("created", 0)), deleted=kind.endswith("deleted"))
    elif kind == "charge.refunded":
        await chargebacks.charge_refunded(ctx, obj)
    elif kind == "charge.dispute.created":
        await chargebacks.dispute_opened(ctx, obj)
    elif kind == "charge.dispute.closed":
        await chargebacks.dispute_closed(ctx, obj)
    elif kind == "radar.early_fraud_warning.created":
        await chargebacks.fraud_warning(ctx, obj)


async def checkout_completed(ctx: EventContext, session_obj: dict[str, Any]) -> None:
    buyer = await _buyer(ctx, session_obj)
    if buyer is None:
        return  # a checkout made by something else on the same Stripe account
    account_id, item, chat = buyer
    if session_obj.get("mode") == "subscription":
        if session_obj.get("subscription") and isinstance(item, Plan):
            await repo.save_subscription(
                ctx.session,
                str(session_obj["subscription"]),
                account_id=account_id,
                plan=item.id,
                status=SubscriptionStatus.ACTIVE,
                customer=session_obj.get("customer"),
                chat=chat,
                updated_at=time_of(session_obj.get("created")),
            )
        return  # the credits come with each paid invoice
    if session_obj.get("payment_status") != "paid":
        return  # a delayed payment method: async_payment_succeeded follows
    if not isinstance(item, Pack):
        raise ValueError(f"checkout {session_obj['id']} is not for a known pack")
    session_id = str(session_obj["id"])
    await credits.lock(ctx.session, account_id)
    granted = await credits.grant(
        ctx.session,
        account_id,
        item.credits,
        kind=credits.EntryKind.PURCHASE,
        key=f"stripe:{session_id}",
        reference=f"pack:{item.id}",
    )
    if not granted:
        return
    payment = await repo.add_payment(
        ctx.session,
        account_id=account_id,
        provider=PROVIDER,
        reference=session_id,
        kind="pack",
        item=item.id,
        credits=item.credits,
        amount=session_obj.get("amount_total"),
        currency=session_obj.get("currency"),
        status=PaymentStatus.PAID,
        payment_intent=session_obj.get("payment_intent"),
        customer=session_obj.get("customer"),
        chat=chat,
    )
    await referrals.reward_first_purchase(
        ctx.session, account_id, payment, chat, ctx.referrals, ctx.default_language
    )
    balance = await credits.balance(ctx.session, account_id)
    log.info("stripe: pack purchase credited to account %s", account_id)
    topped_up = await groups.is_wallet(ctx.session, account_id)  # bought in a group for its wallet
    await ctx.tell(
        account_id,
        chat,
        "group.topped_up" if topped_up else "payment.received",
        f"payment:{session_id}",
        credits=item.credits,
        balance=balance.total,
    )


async def invoice_paid(ctx: EventContext, invoice: dict[str, Any]) -> None:
    subscription_id = _invoice_subscription(invoice)
    if not subscription_id:
        return  # not a subscription invoice: packs are credited from their Checkout Session
    stored = await repo.subscription(ctx.session, subscription_id)
    metadata = _invoice_metadata(invoice)
    plan = ctx.catalogue.find(metadata.get("item", "")) if metadata.get("item") else None
    if plan is None and stored is not None:
        plan = ctx.catalogue.find(stored.plan)
    if plan is None:
        plan = next(
            (found for price in _invoice_prices(invoice) if (found := ctx.catalogue.plan_by_price(price))),
            None,
        )
    account_id = int(metadata["account_id"]) if metadata.get("account_id") else (stored and stored.account_id)
    if not account_id or not isinstance(plan, Plan):
        raise NotYet(f"invoice {invoice['id']}: its subscription is not known yet")
    account_id = await repo.surviving_account(ctx.session, account_id)
    chat = (stored.chat if stored else None) or metadata.get("chat")
    await start_cycle(
        ctx,
        Cycle(
            provider=PROVIDER,
            subscription_id=subscription_id,
            reference=str(invoice["id"]),
            account_id=account_id,
            plan=plan,
            chat=chat,
            customer=invoice.get("customer"),
            period_end=_paid_period_end(invoice),
            amount=invoice.get("amount_paid"),
            currency=invoice.get("currency"),
            payment_intent=ctx.found.payment_intent,
            receipt_url=invoice.get("hosted_invoice_url"),
        ),
    )


async def invoice_failed(ctx: EventContext, invoice: dict[str, Any]) -> None:
    subscription_id = _invoice_subscription(invoice)
    stored = await repo.subscription(ctx.session, subscription_id) if subscription_id else None
    if stored is not None:
        await ctx.tell(
            stored.account_id, stored.chat, "payment.invoice_failed", f"payment:failed:{invoice['id']}"
        )


async def subscription_changed(
    ctx: EventContext, sub: dict[str, Any], created: int, *, deleted: bool
) -> None:
    stored = await repo.subscription(ctx.session, str(sub["id"]))
    metadata = sub.get("metadata") or {}
    if stored is None and not metadata.get("account_id"):
        raise NotYet(f"subscription {sub['id']} is not known yet")
    when = time_of(created)
    if stored is not None and stored.updated_at > when:
        return  # an older state than the one we have
    account_id = await repo.surviving_account(
        ctx.session, stored.account_id if stored else int(metadata["account_id"])
    )
    plan = stored.plan if stored else metadata.get("item", "")
    status = SubscriptionStatus.CANCELED if deleted else str(sub.get("status", "active"))
    await repo.save_subscription(
        ctx.session,
        str(sub["id"]),
        account_id=account_id,
        plan=plan,
        status=status,
        customer=sub.get("customer"),
        chat=(stored.chat if stored else metadata.get("chat")),
        current_period_end=_current_period_end(sub),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        updated_at=when,
    )
    if deleted:  # the paid period is over: its credits go with it
        await credits.lock(ctx.session, account_id)
        await credits.set_subscription(ctx.session, account_id, 0, key=f"stripe:{sub['id']}:ended")


async def _buyer(
    ctx: EventContext, session_obj: dict[str, Any]
) -> tuple[int, Pack | Plan | None, str | None] | None:
    """Who bought what, from where: our metadata, else the checkout that `client_reference_id` names;
    None when the session is not one of ours."""
    metadata = session_obj.get("metadata") or {}
    checkout = None
    if session_obj.get("client_reference_id"):
        checkout = await repo.checkout(ctx.session, str(session_obj["client_reference_id"]))
    account_id = (
        int(metadata["account_id"]) if metadata.get("account_id") else (checkout and checkout.account_id)
    )
    if not account_id:
        return None
    account_id = await repo.surviving_account(ctx.session, account_id)
    item_id = metadata.get("item") or (checkout.item if checkout else "")
    chat = metadata.get("chat") or (checkout.chat if checkout else None)
    return account_id, ctx.catalogue.find(item_id) if item_id else None, chat


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """Since API 2025-03-31 an invoice names its subscription only under `parent.subscription_details`."""
    value = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return str(value) if value else None


def _invoice_metadata(invoice: dict[str, Any]) -> dict[str, str]:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return dict(details.get("metadata") or {})


def _invoice_prices(invoice: dict[str, Any]) -> list[str]:
    lines = (invoice.get("lines") or {}).get("data") or []
    details = [(line.get("pricing") or {}).get("price_details") or {} for line in lines]
    return [str(price["price"]) for price in details if price.get("price")]


def _paid_period_end(invoice: dict[str, Any]) -> datetime | None:
    """The end of the period an invoice pays for: its subscription lines' `period`. The invoice's own
    `period_end` is the end of the period that just finished on a renewal, one cycle early."""
    lines = (invoice.get("lines") or {}).get("data") or []
    plan_lines = [line for line in lines if (line.get("parent") or {}).get("subscription_item_details")]
    ends = [int(end) for line in plan_lines or lines if (end := (line.get("period") or {}).get("end"))]
    return time_of(max(ends)) if ends else None


def _current_period_end(subscription: dict[str, Any]) -> datetime | None:
    """Since API 2025-03-31 a subscription's period lives on its items."""
    items = (subscription.get("items") or {}).get("data") or []
    ends = [int(end) for item in items if (end := item.get("current_period_end"))]
    return time_of(max(ends)) if ends else None
