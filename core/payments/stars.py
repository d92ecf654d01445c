"""Packs paid in Telegram Stars: the only currency Telegram allows for digital goods bought in a bot.

The Telegram door sends the invoice and reports back; this module decides whether a checkout may go
ahead (the pack or plan still exists at that price, the account is not frozen) and credits a
successful pack payment exactly once, keyed by Telegram's charge id (plans: core.payments.stars_plans).
`image2bot admin refund-stars` returns the Stars through Telegram, then takes the credits back; a
refund Telegram reports by itself takes them back the same way, once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.accounts import Accounts
from core.db.repositories import payments as repo
from core.db.session import Database
from core.db.statuses import PaymentStatus
from core.groups import paying_account
from core.growth import referrals
from core.i18n import Translator, normalize_language
from core.messages import ChatRef, UserRef, text
from core.notifier import Notifier
from core.payments import freezes
from core.payments.catalogue import Catalogue, Pack, Plan
from core.payments.chargebacks import reclaim
from core.payments.event_context import EventContext
from core.policy import ReferralSettings
from core.privacy.chats import NoticePointer, notices_chat, remember_pointer

log = logging.getLogger(__name__)

PROVIDER = "telegram_stars"
CURRENCY = "XTR"


class UnknownCharge(LookupError):
    pass


class RenewalRefused(Exception):
    """Telegram did not take the change to a subscription's renewal."""


class RenewalSwitch(Protocol):
    """The door that asks Telegram to stop renewing a Stars subscription (editUserStarSubscription)."""

    async def stop_renewal(self, telegram_user_id: int, charge_id: str) -> None: ...


@dataclass
class StarsPurchases:
    db: Database
    accounts: Accounts
    notifier: Notifier
    catalogue: Catalogue
    default_language: str
    renewals: RenewalSwitch | None = None  # set where a Telegram door runs
    referrals: ReferralSettings = field(default_factory=ReferralSettings)

    async def translator(self, user: UserRef) -> Translator:
        account = await self.accounts.resolve(user)
        return Translator(account.language or normalize_language(user.locale) or self.default_language)

    def packs(self) -> list[Pack]:
        return [pack for pack in self.catalogue.packs if pack.stars]

    def pack(self, pack_id: str) -> Pack | None:
        return next((pack for pack in self.packs() if pack.id == pack_id), None)

    def plans(self) -> list[Plan]:
        return [plan for plan in self.catalogue.plans if plan.stars]

    def plan(self, plan_id: str) -> Plan | None:
        return next((plan for plan in self.plans() if plan.id == plan_id), None)

    def context(self, session: AsyncSession) -> EventContext:
        """What the plan cycles and refunds shared with Stripe's events are given."""
        return EventContext(
            session,
            self.catalogue,
            self.notifier,
            self.default_language,
            "payment.support_hint",
            referrals=self.referrals,
        )

    async def refusal(self, user: UserRef, item_id: str, stars: int) -> str | None:
        """Why this checkout must not go ahead (translated for the user), or None when it may."""
        item = self.pack(item_id) or self.plan(item_id)
        account = await self.accounts.resolve(user)
        t = Translator(account.language or normalize_language(user.locale) or self.default_language)
        if item is None or item.stars != stars:
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
        `private_chat` when they paid in a group. Paid in a group whose wallet is on, the pack goes
        to the group's wallet."""
        pack = self.pack(pack_id)
        account = await self.accounts.resolve(user)
        if pack is None:
            log.error("telegram stars: a payment for an unknown pack; refund it with admin refund-stars")
            return
        language = account.language or normalize_language(user.locale) or self.default_language
        told = notices_chat(chat, private_chat)
        async with self.db.transaction() as session:
            payer = await paying_account(session, chat, account.id)
            await credits.lock(session, payer)
            if not await credits.grant(
                session,
                payer,
                pack.credits,
                kind=credits.EntryKind.PURCHASE,
                key=f"{PROVIDER}:{charge_id}",
                reference=f"{PROVIDER}:{charge_id}",
            ):
                return
            payment = await repo.add_payment(
                session,
                account_id=payer,
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
                session, account.id, payment, told.serialize(), self.referrals, self.default_language
            )
            if told != chat:
                pointer = NoticePointer(told, chat, account.id, language, user.display_name)
                await remember_pointer(session, pointer)
            balance = await credits.balance(session, payer)
            key = "payment.received" if payer == account.id else "group.topped_up"
            notice = Translator(language)(key, credits=pack.credits, balance=balance.total)
            await self.notifier.enqueue(session, told, [text(notice)], key=f"payment:{PROVIDER}:{charge_id}")
        self.notifier.wake()
        log.info("telegram stars: pack purchase credited to account %s", payer)

    async def buyer(self, charge_id: str) -> int:
        """The Telegram user id that paid this charge (Telegram needs it to return the Stars)."""
        async with self.db.transaction() as session:
            payment = await repo.payment(session, PROVIDER, charge_id)
        if payment is None or payment.customer is None:
            raise UnknownCharge(charge_id)
        return int(payment.customer)

    async def reclaim(self, charge_id: str) -> int:
        """After Telegram returned the Stars: takes back what is left of the payment's credits (a
        plan's: what is left of that period's bucket), never below zero, once, and tells the buyer.
        Returns how many credits were taken; what was already spent is recorded as the shortfall."""
        async with self.db.transaction() as session:
            payment = await repo.payment(session, PROVIDER, charge_id)
            if payment is None:
                raise UnknownCharge(charge_id)
            key = f"{PROVIDER}:{charge_id}:refund"
            taken = await reclaim(session, payment, payment.credits, key=key)
            await referrals.take_back_rewards(session, payment, self.default_language)
            if taken is None:
                return 0
            payment.status = PaymentStatus.REFUNDED
            balance = await credits.balance(session, payment.account_id)
            chat = await repo.chat_of(session, payment)
            notice = f"payment:refund:{PROVIDER}:{charge_id}"
            await self.context(session).tell(
                payment.account_id, chat, "payment.refunded", notice, credits=taken, balance=balance.total
            )
        self.notifier.wake()
        return taken
