"""Packs paid in Telegram Stars: the only currency Telegram allows for digital goods bought in a bot.

The Telegram door sends the invoice and reports back; this module decides whether a checkout may go
ahead (the pack still exists, the account is not frozen) and credits a successful payment exactly
once, keyed by Telegram's charge id. `image2bot admin refund-stars` returns the Stars through Telegram,
then takes the credits back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core import credits
from core.accounts import Accounts
from core.db.repositories import payments as repo
from core.db.session import Database
from core.db.statuses import PaymentStatus
from core.growth import referrals
from core.i18n import Translator, normalize_language
from core.messages import ChatRef, UserRef, text
from core.notifier import Notifier
from core.payments import freezes
from core.payments.catalogue import Catalogue, Pack
from core.policy import ReferralSettings
from core.privacy.chats import NoticePointer, notices_chat, remember_pointer

log = logging.getLogger(__name__)

PROVIDER = "telegram_stars"
CURRENCY = "XTR"


class UnknownCharge(LookupError):
    pass


@dataclass
class StarsPurchases:
    db: Database
    accounts: Accounts
    notifier: Notifier
    catalogue: Catalogue
    default_language: str
    referrals: ReferralSettings = field(default_factory=ReferralSettings)

    async def translator(self, user: UserRef) -> Translator:
        account = await self.accounts.resolve(user)
        return Translator(account.language or normalize_language(user.locale) or self.default_language)

    def packs(self) -> list[Pack]:
        return [pack for pack in self.catalogue.packs if pack.stars]

    def pack(self, pack_id: str) -> Pack | None:
        return next((pack for pack in self.packs() if pack.id == pack_id), None)

    async def refusal(self, user: UserRef, pack_id: str, stars: int) -> str | None:
        """Why this checkout must not go ahead (translated for the user), or None when it may."""
        pack = self.pack(pack_id)
        account = await self.accounts.resolve(user)
        t = Translator(account.language or normalize_language(user.locale) or self.default_language)
        if pack is None or pack.stars != stars:
            return t("error.stars_item_gone")
        async with self.db.transaction() as session:
            if reason := await repo.frozen_reason(session, account.id):
                refused = freezes.refusal(reason)
                return t(f"error.{refused.code}")
        return None

    async def credit(
        self,
        user: UserRef,
        chat: ChatRef,
        pack_id: str,
        charge_id: str,
        stars: int,
        *,
        private_chat: ChatRef | None = None,
    ) -> None:
        """Grants a paid pack once per charge and tells the buyer, through the outbox: in their
        `private_chat` when they paid in a group."""
        pack = self.pack(pack_id)
        account = await self.accounts.resolve(user)
        if pack is None:
            log.error("telegram stars: a payment for an unknown pack; refund it with admin refund-stars")
            return
        language = account.language or normalize_language(user.locale) or self.default_language
        told = notices_chat(chat, private_chat)
        async with self.db.transaction() as session:
            await credits.lock(session, account.id)
            if not await credits.grant(
                session,
                account.id,
                pack.credits,
                kind=credits.EntryKind.PURCHASE,
                key=f"{PROVIDER}:{charge_id}",
                reference=f"{PROVIDER}:{charge_id}",
            ):
                return
            await repo.add_payment(
                session,
                account_id=account.id,
                provider=PROVIDER,
                reference=charge_id,
                kind="pack",
                item=pack.id,
                credits=pack.credits,
                amount=stars,
                currency=CURRENCY,
                status=PaymentStatus.PAID,
                customer=user.user_id,
                chat=told.serialize(),
            )
            await referrals.reward_first_purchase(
                session, account.id, told.serialize(), self.referrals, self.default_language
            )
            if told != chat:
                pointer = NoticePointer(told, chat, account.id, language, user.display_name)
                await remember_pointer(session, pointer)
            balance = await credits.balance(session, account.id)
            notice = Translator(language)("payment.received", credits=pack.credits, balance=balance.total)
            await self.notifier.enqueue(session, told, [text(notice)], key=f"payment:{PROVIDER}:{charge_id}")
        self.notifier.wake()
        log.info("telegram stars: pack purchase credited to account %s", account.id)

    async def buyer(self, charge_id: str) -> int:
        """The Telegram user id that paid this charge (Telegram needs it to return the Stars)."""
        async with self.db.transaction() as session:
            payment = await repo.payment(session, PROVIDER, charge_id)
        if payment is None or payment.customer is None:
            raise UnknownCharge(charge_id)
        return int(payment.customer)

    async def reclaim(self, charge_id: str) -> int:
        """After Telegram returned the Stars: takes the purchase's credits back, never below zero, once.
        Returns how many credits were taken; what was already spent is recorded as the shortfall."""
        async with self.db.transaction() as session:
            payment = await repo.payment(session, PROVIDER, charge_id)
            if payment is None:
                raise UnknownCharge(charge_id)
            await credits.lock(session, payment.account_id)
            owed = payment.credits - payment.credits_reclaimed - payment.shortfall
            taken = await credits.take_back(
                session,
                payment.account_id,
                owed,
                key=f"{PROVIDER}:{charge_id}:refund",
                reference=f"payment:{payment.id}",
            )
            if taken is None:
                return 0
            payment.credits_reclaimed += taken
            payment.shortfall += owed - taken
            payment.status = PaymentStatus.REFUNDED
            return taken
