"""`/buy`, `/subscription`, `/invoices`: buying credits and looking after what was bought."""

from __future__ import annotations

from core import credits
from core.commands.context import Context, Services
from core.commands.parser import Command
from core.db.statuses import PaymentStatus, SubscriptionStatus
from core.errors import UserError
from core.groups import paying_account
from core.i18n import Translator
from core.i18n.statuses import status_text
from core.messages import ChatRef, Choice, Event, Reply, text
from core.payments.catalogue import Pack, Plan
from core.payments.prices import format_money

INVOICE_LINES = 10


async def buy(ctx: Context, command: Command) -> list[Reply]:
    payments = ctx.services.payments
    t = ctx.t
    if not payments.available:
        if payments.open_in(ctx.chat):
            # the door offers what it sells itself
            shown = None if command.words else Event.CATALOGUE_SHOWN
            return [text(t("buy.title"), private=True, event=shown)]
        hint, _ = way_to_pay(ctx.services, t, ctx.chat)
        return [text(hint, private=True)]
    if command.words:
        item = ctx.services.payments.catalogue.find(command.words[0])
        if item is None or item not in payments.purchasable():
            raise UserError("unknown_item", value=command.words[0], items=_ids(ctx))
        async with ctx.services.db.read() as session:
            payer = await paying_account(session, ctx.chat, ctx.account.id)  # a group's wallet, when on
        if payer != ctx.account.id and isinstance(item, Plan):
            raise UserError("group_packs_only")
        # The payment's notices go to the buyer's private chat (never to a group); the link itself is
        # a private reply: the door sends it privately (Telegram) or shows it to the buyer alone (a
        # Discord ephemeral answer), and a group sees at most that it was sent, or how to get it.
        url = await payments.link(payer, ctx.notices_chat, item, pointer=ctx.pointer)
        key = "buy.link" if payer == ctx.account.id else "group.buy_link"
        message = t(key, item=item, what=describe(ctx, item), url=url)
        return [text("\n".join((message, t("buy.refunds"), t("payment.support_hint"))), private=True)]
    lines = [t("buy.title")]
    lines.extend(f"• {describe(ctx, item)} — /buy {item.id}" for item in payments.purchasable())
    lines.append(t("buy.refunds"))
    lines.append(t("payment.support_hint"))
    menu = tuple(
        (Choice(item.localized(ctx.language), f"/buy {item.id}"),) for item in payments.purchasable()
    )
    return [text("\n".join(lines), choices=menu, private=True, event=Event.CATALOGUE_SHOWN)]


def describe(ctx: Context, item: Pack | Plan) -> str:
    """`Starter: 500 credits, $9.99`; without the price while Stripe has not told us one."""
    price = ctx.services.payments.prices.shown(item, ctx.language)
    if isinstance(item, Plan):
        key = "buy.plan_year" if item.interval == "year" else "buy.plan_month"
        credits_ = item.credits_per_cycle
    else:
        key, credits_ = "buy.pack", item.credits
    if price is None:
        return ctx.t(f"{key}_unpriced", name=item, credits=credits_)
    return ctx.t(key, name=item, credits=credits_, price=price)


def way_to_pay(
    services: Services, t: Translator, chat: ChatRef
) -> tuple[str, tuple[tuple[Choice, ...], ...]]:
    """Where more credits come from, and a Buy button when they can be bought in this chat."""
    if services.payments.open_in(chat):
        return t("credits.buy"), ((Choice(t("action.buy"), "/buy"),),)
    return t("buy.unavailable") + " " + t("credits.help", contact=services.privacy.settings.contact), ()


async def subscription(ctx: Context, command: Command) -> list[Reply]:
    payments = ctx.services.payments
    action = command.words[0].lower() if command.words else ""
    if action == "cancel":
        updated = await payments.cancel_renewal(ctx.account.id)
        end = ctx.clock.day(updated.current_period_end) if updated.current_period_end else "—"
        return [text(ctx.t("subscription.cancelled", end=end), private=True)]
    if action == "portal":
        url = await payments.portal(ctx.account.id)
        return [text(ctx.t("subscription.portal", url=url), private=True)]
    if action:
        raise UserError("subscription_usage")
    current = await payments.subscription(ctx.account.id)
    if current is None:
        return [text(ctx.t("subscription.none"), private=True)]
    plan = payments.catalogue.find(current.plan)
    async with ctx.services.db.transaction() as session:
        balance = await credits.balance(session, ctx.account.id)
    end = ctx.clock.day(current.current_period_end) if current.current_period_end else "—"
    message = ctx.t(
        "subscription.status",
        plan=plan or current.plan,
        status=status_text(ctx.t, SubscriptionStatus, current.status),
        end=end,
        credits=balance.subscription,
    )
    if current.cancel_at_period_end:
        message += "\n" + ctx.t("subscription.ends", end=end)
    menu = [Choice(ctx.t("action.manage_billing"), "/subscription portal")]
    if not current.cancel_at_period_end:
        menu.insert(0, Choice(ctx.t("action.cancel_renewal"), "/subscription cancel"))
    return [text(message + "\n" + ctx.t("payment.support_hint"), choices=(tuple(menu),), private=True)]


async def invoices(ctx: Context, _command: Command) -> list[Reply]:
    history = await ctx.services.payments.history(ctx.account.id, INVOICE_LINES)
    if not history:
        return [text(ctx.t("invoices.none"), private=True)]
    lines = [ctx.t("invoices.title")]
    for payment in history:
        line = ctx.t(
            "invoices.line",
            date=ctx.clock.day(payment.created_at),
            amount=format_money(payment.amount, payment.currency, ctx.language)
            if payment.amount is not None and payment.currency
            else "—",
            credits=payment.credits,
            item=ctx.services.payments.catalogue.find(payment.item) or payment.item,
            status=status_text(ctx.t, PaymentStatus, payment.status),
        )
        lines.append(line + (f" · {payment.receipt_url}" if payment.receipt_url else ""))
    lines.append(ctx.t("local_time.zone_note", zone=ctx.clock.zone_label()))
    return [text("\n".join(lines), private=True)]


async def paysupport(ctx: Context, _command: Command) -> list[Reply]:
    """Telegram requires bots that take payments to answer /paysupport."""
    return [text(ctx.t("payment.paysupport"))]


def _ids(ctx: Context) -> str:
    return ", ".join(item.id for item in ctx.services.payments.purchasable())
