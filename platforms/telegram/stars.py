"""Telegram Stars: the offer under /buy, the invoice, the pre-checkout answer and the paid message."""

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

from core.payments.stars import CURRENCY, StarsPurchases
from platforms.telegram import render
from platforms.telegram.callbacks import CallbackSigner
from platforms.telegram.incoming import user_ref

PAYLOAD_PREFIX = "stars:"


class StarsCounter:
    def __init__(self, bot: Bot, signer: CallbackSigner, purchases: StarsPurchases) -> None:
        self._bot = bot
        self._signer = signer
        self._purchases = purchases

    async def offer(self, message: Message) -> None:
        """After the catalogue: one button per pack that has a Stars price."""
        packs = self._purchases.packs()
        if not packs or message.from_user is None:
            return
        t = await self._purchases.translator(user_ref(message.from_user))
        rows = [
            [
                InlineKeyboardButton(
                    t("stars.button", name=pack, credits=pack.credits, stars=pack.stars),
                    callback_data=self._signer.for_stars(pack.id),
                )
            ]
            for pack in packs
        ]
        await self._bot.send_message(
            message.chat.id, t("stars.offer"), reply_markup=InlineKeyboardMarkup(rows)
        )

    async def invoice(self, chat_id: int, user: User, pack_id: str) -> bool:
        """Sends the invoice; False when the pack is not sold in Stars (any more)."""
        pack = self._purchases.pack(pack_id)
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

    async def precheck(self, query: PreCheckoutQuery) -> None:
        """Telegram waits at most 10 s for this answer: only cheap checks."""
        pack_id = query.invoice_payload.removeprefix(PAYLOAD_PREFIX)
        refusal = None
        if query.currency != CURRENCY or not query.invoice_payload.startswith(PAYLOAD_PREFIX):
            refusal = (await self._purchases.translator(user_ref(query.from_user)))("error.stars_item_gone")
        else:
            refusal = await self._purchases.refusal(user_ref(query.from_user), pack_id, query.total_amount)
        await query.answer(ok=refusal is None, error_message=refusal)

    async def paid(self, message: Message) -> None:
        payment = message.successful_payment
        if payment is None or message.from_user is None:
            return
        await self._purchases.credit(
            user_ref(message.from_user),
            render.chat_ref(message.chat.id, message.chat.type),
            payment.invoice_payload.removeprefix(PAYLOAD_PREFIX),
            payment.telegram_payment_charge_id,
            payment.total_amount,
            private_chat=render.chat_ref(message.from_user.id, ChatType.PRIVATE),
        )
