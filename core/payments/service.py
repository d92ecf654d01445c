"""Buying credits from a chat: payment links, subscriptions, invoices, and what a purchase unlocks."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.db.models import Payment, Subscription
from core.db.repositories import payments as repo
from core.db.session import Database
from core.errors import UserError
from core.generation.sizes import Tier
from core.messages import ChatRef
from core.payments.catalogue import Catalogue, Pack, Plan
from core.payments.prices import PriceBook
from core.payments.stars_plans import is_stars
from core.privacy.chats import NoticePointer, remember_pointer

if TYPE_CHECKING:
    from core.payments.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)

TIER_ORDER = (Tier.K1, Tier.K2, Tier.K4)


@dataclass
class Payments:
    db: Database
    catalogue: Catalogue
    gateway: StripeGateway | None
    prices: PriceBook
    checkout_mode: str  # "session" | "payment_link"
    success_url: str
    cancel_url: str
    free_max_res: Tier = Tier.K4
    sold_in_chat_on: frozenset[str] = frozenset()  # platforms whose door sells packs itself (Stars)

    @property
    def available(self) -> bool:
        if not self.catalogue:
            return False
        if self.checkout_mode == "payment_link":
            return any(pack.payment_link for pack in self.catalogue.packs)
        return self.gateway is not None

    def open_in(self, chat: ChatRef) -> bool:
        """Whether credits can be bought from this chat: through Stripe, or the door's own payments."""
        return self.available or chat.platform in self.sold_in_chat_on

    def purchasable(self) -> list[Pack | Plan]:
        if self.checkout_mode == "payment_link":
            return [pack for pack in self.catalogue.packs if pack.payment_link]
        return [*self.catalogue.packs, *self.catalogue.plans]

    async def link(
        self, account_id: int, chat: ChatRef, item: Pack | Plan, *, pointer: NoticePointer | None = None
    ) -> str:
        """A payment page for `item` that credits this account and reports back to `chat` (the buyer's
        private chat when they asked in a group, with the `pointer` to that group)."""
        reference = secrets.token_urlsafe(18)  # what Stripe sees of the account: opaque, unguessable
        if self.checkout_mode == "payment_link":
            assert isinstance(item, Pack)
            assert item.payment_link
            separator = "&" if "?" in item.payment_link else "?"
            url = f"{item.payment_link}{separator}client_reference_id={reference}"
        else:
            assert self.gateway is not None
            import stripe  # loaded with the gateway: a bot that sells nothing through Stripe never loads it

            metadata = {"account_id": str(account_id), "item": item.id, "chat": chat.serialize()}
            try:
                session = await self.gateway.create_checkout(
                    item,
                    account_ref=reference,
                    metadata=metadata,
                    success_url=self.success_url,
                    cancel_url=self.cancel_url,
                    now=int(time.time()),
                    idempotency_key=f"checkout:{reference}",
                )
            except stripe.StripeError as error:
                log.error("stripe: a checkout could not be created (%s)", type(error).__name__)
                raise UserError("payment_unavailable") from None
            url = str(session["url"])
        async with self.db.transaction() as session_db:
            await repo.add_checkout(
                session_db, id=reference, account_id=account_id, item=item.id, chat=chat.serialize(), url=url
            )
            await remember_pointer(session_db, pointer)
        return url

    def max_tier(self, bought_pack: bool, plan_id: str | None) -> Tier:
        """The highest resolution an account may order: anything once it bought a pack, its plan's
        when it subscribes, else the free limit."""
        if bought_pack:
            return Tier.K4
        plan = self.catalogue.find(plan_id) if plan_id else None
        allowed = self.free_max_res
        if isinstance(plan, Plan) and TIER_ORDER.index(plan.max_res) > TIER_ORDER.index(allowed):
            allowed = plan.max_res
        return allowed

    def unlocking(self, tier: Tier) -> list[Pack | Plan]:
        """What to buy to order `tier`."""
        plans = [
            plan for plan in self.catalogue.plans if TIER_ORDER.index(plan.max_res) >= TIER_ORDER.index(tier)
        ]
        return [*self.catalogue.packs, *plans]

    async def subscription(self, account_id: int) -> Subscription | None:
        async with self.db.read() as session:
            return await repo.current_subscription(session, account_id)

    async def cancel_renewal(self, account_id: int) -> Subscription:
        current = await self._require_subscription(account_id)
        assert self.gateway is not None
        import stripe

        try:
            updated = await self.gateway.cancel_at_period_end(current.id)
        except stripe.StripeError as error:
            log.error("stripe: a renewal could not be cancelled (%s)", type(error).__name__)
            raise UserError("payment_unavailable") from None
        async with self.db.transaction() as session:
            return await repo.save_subscription(
                session, current.id, cancel_at_period_end=bool(updated.get("cancel_at_period_end", True))
            )

    async def portal(self, account_id: int) -> str:
        current = await self._require_subscription(account_id)
        assert self.gateway is not None
        import stripe

        if not current.customer:
            raise UserError("no_subscription")
        try:
            return await self.gateway.portal(current.customer, self.success_url)
        except stripe.StripeError as error:
            log.error("stripe: a billing portal link could not be created (%s)", type(error).__name__)
            raise UserError("payment_unavailable") from None

    async def history(self, account_id: int, limit: int = 10) -> list[Payment]:
        async with self.db.read() as session:
            return await repo.payments_of(session, account_id, limit)

    async def _require_subscription(self, account_id: int) -> Subscription:
        current = await self.subscription(account_id)
        if current is not None and is_stars(current.id):
            raise UserError("stars_subscription")
        if current is None or self.gateway is None:
            raise UserError("no_subscription")
        return current
