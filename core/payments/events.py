"""What each Stripe event does to the ledger and the account, inside the transaction that handles it.

Every credit change is keyed by Stripe's own id (the Checkout Session, the invoice, the refund), so a
repeated, late or reconciled event changes nothing the second time. Events may come in any order:
one that refers to something not known yet raises `NotYet` and is retried later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.models import Payment
from core.db.repositories import accounts as accounts_repo
from core.db.repositories import payments as repo
from core.i18n import Translator
from core.messages import ChatRef, text
from core.notifier import Notifier
from core.payments.catalogue import Catalogue, Pack, Plan

log = logging.getLogger(__name__)

PROVIDER = "stripe"


class NotYet(Exception):
    """The event needs something another event brings (it came first): try again later."""


@dataclass
class EventContext:
    session: AsyncSession
    catalogue: Catalogue
    notifier: Notifier
    default_language: str
    support_hint: str  # the catalog key that ends every money message with how to reach a human

    async def tell(self, account_id: int, chat: str | None, key: str, dedupe: str, **params: Any) -> None:
        """Queues a message for the account in the chat the purchase started from (when known)."""
        if not chat:
            return
        language = await _language(self.session, account_id) or self.default_language
        t = Translator(language)
        message = t(key, **params) + "\n" + t(self.support_hint)
        await self.notifier.enqueue(self.session, ChatRef.parse(chat), [text(message)], key=dedupe)


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
        await charge_refunded(ctx, obj)
    elif kind == "charge.dispute.created":
        await dispute(ctx, obj, opened=True)
    elif kind == "charge.dispute.closed":
        await dispute(ctx, obj, opened=False)


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
                status="active",
                customer=session_obj.get("customer"),
                chat=chat,
                updated_at=_time(session_obj.get("created")),
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
    await repo.add_payment(
        ctx.session,
        account_id=account_id,
        provider=PROVIDER,
        reference=session_id,
        kind="pack",
        item=item.id,
        credits=item.credits,
        amount=session_obj.get("amount_total"),
        currency=session_obj.get("currency"),
        status="paid",
        payment_intent=session_obj.get("payment_intent"),
        customer=session_obj.get("customer"),
        chat=chat,
    )
    balance = await credits.balance(ctx.session, account_id)
    log.info("stripe: pack purchase credited to account %s", account_id)
    await ctx.tell(
        account_id,
        chat,
        "payment.received",
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
    period_end = _period_end(invoice)
    await repo.save_subscription(
        ctx.session,
        subscription_id,
        account_id=account_id,
        plan=plan.id,
        status="active",
        customer=invoice.get("customer"),
        chat=chat,
        current_period_end=period_end,
    )
    await credits.lock(ctx.session, account_id)
    invoice_id = str(invoice["id"])
    if not await credits.set_subscription(
        ctx.session,
        account_id,
        plan.credits_per_cycle,
        key=f"stripe:{invoice_id}",
        reference=f"plan:{plan.id}",
    ):
        return
    await repo.add_payment(
        ctx.session,
        account_id=account_id,
        provider=PROVIDER,
        reference=invoice_id,
        kind="plan",
        item=plan.id,
        credits=plan.credits_per_cycle,
        amount=invoice.get("amount_paid"),
        currency=invoice.get("currency"),
        status="paid",
        payment_intent=invoice.get("payment_intent"),
        customer=invoice.get("customer"),
        subscription=subscription_id,
        chat=chat,
        receipt_url=invoice.get("hosted_invoice_url"),
    )
    balance = await credits.balance(ctx.session, account_id)
    await ctx.tell(
        account_id,
        chat,
        "payment.cycle",
        f"payment:{invoice_id}",
        plan=plan.name,
        credits=plan.credits_per_cycle,
        balance=balance.total,
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
    when = _time(created)
    if stored is not None and stored.updated_at > when:
        return  # an older state than the one we have
    account_id = await repo.surviving_account(
        ctx.session, stored.account_id if stored else int(metadata["account_id"])
    )
    plan = stored.plan if stored else metadata.get("item", "")
    status = "canceled" if deleted else str(sub.get("status", "active"))
    await repo.save_subscription(
        ctx.session,
        str(sub["id"]),
        account_id=account_id,
        plan=plan,
        status=status,
        customer=sub.get("customer"),
        chat=(stored.chat if stored else metadata.get("chat")),
        current_period_end=_period_end(sub),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        updated_at=when,
    )
    if deleted:  # the paid period is over: its credits go with it
        await credits.lock(ctx.session, account_id)
        await credits.set_subscription(ctx.session, account_id, 0, key=f"stripe:{sub['id']}:ended")


async def charge_refunded(ctx: EventContext, charge: dict[str, Any]) -> None:
    payment = await _payment_of_charge(ctx, charge)
    if payment is None:
        return  # not a purchase made through the bot
    amount = int(charge.get("amount") or payment.amount or 0)
    refunded = int(charge.get("amount_refunded") or 0)
    share = payment.credits if not amount or refunded >= amount else -(-payment.credits * refunded // amount)
    owed = share - payment.credits_reclaimed - payment.shortfall
    if owed <= 0:
        return
    bucket = credits.Bucket.SUBSCRIPTION if payment.kind == "plan" else credits.Bucket.ONE_TIME
    await credits.lock(ctx.session, payment.account_id)
    taken = await credits.take_back(
        ctx.session,
        payment.account_id,
        owed,
        key=f"stripe:{charge['id']}:refunded:{refunded}",
        bucket=bucket,
        reference=f"payment:{payment.id}",
    )
    if taken is None:
        return
    payment.credits_reclaimed += taken
    payment.shortfall += owed - taken
    payment.status = "refunded" if refunded >= amount else "partially_refunded"
    balance = await credits.balance(ctx.session, payment.account_id)
    chat = await _payment_chat(ctx, payment)
    await ctx.tell(
        payment.account_id,
        chat,
        "payment.refunded",
        f"payment:refund:{charge['id']}:{refunded}",
        credits=taken,
        balance=balance.total,
    )


async def dispute(ctx: EventContext, obj: dict[str, Any], *, opened: bool) -> None:
    payment = await _payment_of_charge(ctx, obj)
    if payment is None:
        return
    chat = await _payment_chat(ctx, payment)
    if opened:
        await repo.set_frozen(ctx.session, payment.account_id, "dispute")
        await ctx.tell(payment.account_id, chat, "payment.disputed", f"payment:dispute:{obj['id']}")
    elif obj.get("status") == "won":
        await repo.set_frozen(ctx.session, payment.account_id, None)
        await ctx.tell(payment.account_id, chat, "payment.dispute_won", f"payment:dispute-won:{obj['id']}")


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


async def _payment_of_charge(ctx: EventContext, obj: dict[str, Any]) -> Payment | None:
    intent = obj.get("payment_intent")
    return await repo.payment_by_intent(ctx.session, str(intent)) if intent else None


async def _payment_chat(ctx: EventContext, payment: Payment) -> str | None:
    if payment.subscription:
        stored = await repo.subscription(ctx.session, payment.subscription)
        return stored.chat if stored else payment.chat
    return payment.chat


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    value = invoice.get("subscription") or parent.get("subscription")
    return str(value) if value else None


def _invoice_metadata(invoice: dict[str, Any]) -> dict[str, str]:
    for details in (
        invoice.get("subscription_details"),
        (invoice.get("parent") or {}).get("subscription_details"),
    ):
        if details and details.get("metadata"):
            return dict(details["metadata"])
    return {}


def _invoice_prices(invoice: dict[str, Any]) -> list[str]:
    prices = []
    for line in (invoice.get("lines") or {}).get("data", []):
        price = line.get("price") or (line.get("pricing") or {}).get("price_details") or {}
        if isinstance(price, dict) and (price.get("id") or price.get("price")):
            prices.append(str(price.get("id") or price.get("price")))
    return prices


def _period_end(obj: dict[str, Any]) -> datetime | None:
    end = obj.get("current_period_end") or obj.get("period_end")
    if not end:
        items = (obj.get("items") or obj.get("lines") or {}).get("data") or []
        end = items and ((items[0].get("period") or {}).get("end") or items[0].get("current_period_end"))
    return _time(end) if end else None


def _time(unix: int | None) -> datetime:
    return datetime.fromtimestamp(int(unix or 0), UTC)


async def _language(session: AsyncSession, account_id: int) -> str | None:
    account = await accounts_repo.get(session, account_id)
    return account.language if account else None
