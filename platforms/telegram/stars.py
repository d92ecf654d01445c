"""Telegram Stars: the offer under /buy, the invoice (a subscription invoice link for a plan), the
pre-checkout answer, the paid message (a first payment or a renewal) and the refunded one."""

from __future__ import annotations

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    User,
)
from telegram.constants import ChatType
from telegram.error import TelegramError

from core.messages import Event, Reply
from core.payments.catalogue import Plan
from core.payments.stars import CURRENCY, RenewalRefused, StarsPurchases, UnknownCharge
from core.payments.stars_plans import PERIOD, StarsSubscriptions
from platforms.telegram import render
from platforms.telegram.callbacks import CallbackSigner
from platforms.telegram.incoming import user_ref

PAYLOAD_PREFIX = "stars:"
PLAN_PAYLOAD_PREFIX = "stars-plan:"
TITLE_CHARS = 32  # an invoice's title: 1-32 characters
SUBSCRIPTION_PERIOD_S = int(PERIOD.total_seconds())  # the only period Telegram accepts: 2592000


class StarsCounter:
    def __init__(self, bot: Bot, signer: CallbackSigner, purchases: StarsPurchases) -> None:
        self._bot = bot
        self._signer = signer
        self._purchases = purchases
        self._plans = StarsSubscriptions(purchases)

    async def follow(self, message: Message, replies: list[Reply]) -> None:
        """After the catalogue, the Stars offers; after `/buy <item>` sold in Stars, its invoice."""
        for reply in replies:
            if reply.event == Event.CATALOGUE_SHOWN:
                await self.offer(message)
            elif reply.event == Event.ITEM_CHOSEN and reply.item and message.from_user is not None:
                await self.invoice(message.chat.id, message.from_user, reply.item)

    async def offer(self, message: Message) -> None:
        """After the catalogue: one button per pack and per plan that has a Stars price."""
        packs, plans = self._purchases.packs(), self._purchases.plans()
        if not (packs or plans) or message.from_user is None:
            return
        t = await self._purchases.translator(user_ref(message.from_user))
        buttons = [
            *(
                (pack.id, t("stars.button", name=pack, credits=pack.credits, stars=pack.stars))
                for pack in packs
            ),
            *(
                (plan.id, t("stars.plan_button", name=plan, credits=plan.credits_per_cycle, stars=plan.stars))
                for plan in plans
            ),
        ]
        rows = [
            [InlineKeyboardButton(label, callback_data=self._signer.for_stars(item_id))]
            for item_id, label in buttons
        ]
        await self._bot.send_message(
            message.chat.id, t("stars.offer"), reply_markup=InlineKeyboardMarkup(rows)
        )

    async def invoice(self, chat_id: int, user: User, item_id: str) -> bool:
        """Sends the invoice (for a plan, a subscription link); False when the item is not sold in
        Stars (any more)."""
        if (plan := self._purchases.plan(item_id)) is not None:
            await self._subscription_link(chat_id, user, plan)
            return True
        pack = self._purchases.pack(item_id)
        if pack is None or pack.stars is None:
            return False
        t = await self._purchases.translator(user_ref(user))
        title = pack.localized(t.language)
        await self._bot.send_invoice(
            chat_id,
            title=title,
            description=t("stars.description", credits=pack.credits),
            payload=f"{PAYLOAD_PREFIX}{pack.id}",
            currency=CURRENCY,
            prices=[LabeledPrice(title, pack.stars)],
            provider_token="",
        )
        return True

    async def _subscription_link(self, chat_id: int, user: User, plan: Plan) -> None:
        """Telegram sells subscriptions only through an invoice link: a message with its button."""
        assert plan.stars is not None
        t = await self._purchases.translator(user_ref(user))
        title = plan.localized(t.language)[:TITLE_CHARS]
        link = await self._bot.create_invoice_link(
            title=title,
            description=t("stars.plan_description", credits=plan.credits_per_cycle),
            payload=f"{PLAN_PAYLOAD_PREFIX}{plan.id}",
            currency=CURRENCY,
            prices=[LabeledPrice(title, plan.stars)],
            provider_token="",
            subscription_period=SUBSCRIPTION_PERIOD_S,
        )
        button = InlineKeyboardButton(t("stars.subscribe", name=title, stars=plan.stars), url=link)
        await self._bot.send_message(
            chat_id,
            t("stars.plan_offer", name=title, credits=plan.credits_per_cycle, stars=plan.stars),
            reply_markup=InlineKeyboardMarkup([[button]]),
        )

    async def precheck(self, query: PreCheckoutQuery) -> None:
        """Telegram waits at most 10 s for this answer: only cheap checks."""
        item_id = _item(query.invoice_payload)
        refusal = None
        if query.currency != CURRENCY or item_id is None:
            refusal = (await self._purchases.translator(user_ref(query.from_user)))("error.stars_item_gone")
        else:
            refusal = await self._purchases.refusal(user_ref(query.from_user), item_id, query.total_amount)
        await query.answer(ok=refusal is None, error_message=refusal)

    async def paid(self, message: Message) -> None:
        payment = message.successful_payment
        if payment is None or message.from_user is None:
            return
        private_chat = render.chat_ref(message.from_user.id, ChatType.PRIVATE)
        if payment.invoice_payload.startswith(PLAN_PAYLOAD_PREFIX):
            await self._plans.pay(
                user_ref(message.from_user),
                payment.invoice_payload.removeprefix(PLAN_PAYLOAD_PREFIX),
                payment.telegram_payment_charge_id,
                payment.total_amount,
                payment.subscription_expiration_date,  # PTB gives it as an aware datetime
                private_chat,
            )
            return
        await self._purchases.credit(
            user_ref(message.from_user),
            render.chat_ref(message.chat.id, message.chat.type),
            payment.invoice_payload.removeprefix(PAYLOAD_PREFIX),
            payment.telegram_payment_charge_id,
            payment.total_amount,
            private_chat=private_chat,
        )

    async def stop_renewal(self, telegram_user_id: int, charge_id: str) -> None:
        """Telegram will not renew the subscription this charge paid for (the RenewalSwitch)."""
        try:
            await self._bot.edit_user_star_subscription(telegram_user_id, charge_id, is_canceled=True)
        except TelegramError as error:
            raise RenewalRefused(type(error).__name__) from error

    async def refunded(self, message: Message) -> None:
        """Telegram returned the Stars of a payment (however the refund was made): its credits go
        back once, whether or not staff already took them back with admin refund-stars."""
        refund = message.refunded_payment
        if refund is None or refund.currency != CURRENCY:
            return
        try:
            await self._purchases.reclaim(refund.telegram_payment_charge_id)
        except UnknownCharge:
            return  # not a payment made through this bot


def _item(payload: str) -> str | None:
    """The pack or plan an invoice payload names, None when it is not one of ours."""
    for prefix in (PLAN_PAYLOAD_PREFIX, PAYLOAD_PREFIX):
        if payload.startswith(prefix) and len(payload) > len(prefix):
            return payload.removeprefix(prefix)
    return None
