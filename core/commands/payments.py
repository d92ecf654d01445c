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
from core.payments.stars_plans import StarsSubscriptions, is_stars

INVOICE_LINES = 10


async def buy(ctx: Context, command: Command) -> list[Reply]:
    payments = ctx.services.payments
    t = ctx.t
    sold_here = ctx.chat.platform in payments.sold_in_chat_on  # the door sells items with a Stars price
    if not payments.available:
        if not payments.open_in(ctx.chat):
            hint, _ = way_to_pay(ctx.services, t, ctx.chat)
            return [text(hint, private=True)]
        if not command.words:  # the door offers what it sells itself
            return [text(t("buy.title"), private=True, event=Event.CATALOGUE_SHOWN)]
        item = payments.catalogue.find(command.words[0])
        if item is None or not item.stars:
            raise UserError("unknown_item", value=command.words[0], items=_sold_in_chat(ctx))
        return [text(t("buy.title"), private=True, event=Event.ITEM_CHOSEN, item=item.id)]
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
        lines = "\n".join((message, t("buy.refunds"), t("payment.support_hint")))
        if sold_here and item.stars:
            return [text(lines, private=True, event=Event.ITEM_CHOSEN, item=item.id)]
        return [text(lines, private=True)]
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
        current = await payments.subscription(ctx.account.id)
        if current is not None and is_stars(current.id):
            updated = await StarsSubscriptions(ctx.services.stars).cancel_renewal(current)
        else:
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
    if is_stars(current.id):  # renewed by Telegram; cancelled there, or here through Telegram
        lines = (message, ctx.t("subscription.stars"), ctx.t("payment.support_hint"))
        can_cancel = ctx.services.stars.renewals is not None and not current.cancel_at_period_end
        stop = (Choice(ctx.t("action.cancel_renewal"), "/subscription cancel"),)
        return [text("\n".join(lines), choices=(stop,) if can_cancel else (), private=True)]
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


def _sold_in_chat(ctx: Context) -> str:
    catalogue = ctx.services.payments.catalogue
    return ", ".join(item.id for item in [*catalogue.packs, *catalogue.plans] if item.stars)
