"""Plans paid in Telegram Stars: a subscription invoice link that Telegram renews every 30 days.

The first payment and each renewal start a billing cycle through the same code as a paid Stripe
invoice (core.payments.cycles), keyed by Telegram's charge id, so a payment reported twice refreshes
the bucket once. Telegram tells the bot nothing when a subscriber cancels: the subscription simply is
not renewed, so a pass ends the subscriptions whose paid period is over with no renewal, as Stripe's
`customer.subscription.deleted` does (the period's credits go with it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from core import credits
from core.db import leases
from core.db.models import Subscription
from core.db.repositories import payments as repo
from core.db.statuses import SubscriptionStatus
from core.db.types import utcnow
from core.errors import UserError
from core.instance import process_name
from core.messages import ChatRef, UserRef
from core.payments.cycles import Cycle, start_cycle
from core.payments.stars import CURRENCY, PROVIDER, RenewalRefused, StarsPurchases
from core.waiting import stop_if_cancelled

log = logging.getLogger(__name__)

PERIOD = timedelta(days=30)  # Telegram's only subscription period (2592000 seconds)
# A renewal is charged when the period ends and may be reported a little later: the plan ends only
# once this much time has passed without one.
RENEWAL_GRACE = timedelta(hours=1)
LAPSE_PASS = timedelta(minutes=10)
LEASE = "stars-lapses"
BATCH = 100


def subscription_id(telegram_user_id: str, plan_id: str) -> str:
    """One Stars subscription per subscriber and plan: every renewal names the same one."""
    return f"{PROVIDER}:{telegram_user_id}:{plan_id}"


def is_stars(subscription: str) -> bool:
    return subscription.startswith(f"{PROVIDER}:")


@dataclass
class StarsSubscriptions:
    purchases: StarsPurchases

    async def pay(
        self,
        user: UserRef,
        plan_id: str,
        charge_id: str,
        stars: int,
        expires_at: datetime | None,
        private_chat: ChatRef,
    ) -> bool:
        """A first payment or a renewal: the plan's cycle starts once per charge, until `expires_at`;
        False when this charge was counted before (or names no plan sold in Stars)."""
        purchases = self.purchases
        plan = purchases.plan(plan_id)
        if plan is None:
            log.error("telegram stars: a subscription payment for an unknown plan; refund it")
            return False
        account = await purchases.accounts.resolve(user)
        async with purchases.db.transaction() as session:
            account_id = await repo.surviving_account(session, account.id)
            cycle = Cycle(
                provider=PROVIDER,
                subscription_id=subscription_id(user.user_id, plan.id),
                reference=charge_id,
                account_id=account_id,
                plan=plan,
                chat=private_chat.serialize(),
                customer=user.user_id,
                period_end=expires_at or utcnow() + PERIOD,
                amount=stars,
                currency=CURRENCY,
            )
            started = await start_cycle(purchases.context(session), cycle)
        purchases.notifier.wake()
        if started:
            log.info("telegram stars: a plan cycle started for account %s", account_id)
        return started

    async def cancel_renewal(self, subscription: Subscription) -> Subscription:
        """Asks Telegram not to renew it (the plan stays until its period ends, then lapses)."""
        purchases = self.purchases
        async with purchases.db.read() as session:
            last = await repo.last_cycle(session, PROVIDER, subscription.id)
        if purchases.renewals is None or last is None or subscription.customer is None:
            raise UserError("stars_subscription")
        try:
            await purchases.renewals.stop_renewal(int(subscription.customer), last.reference)
        except RenewalRefused:
            log.error("telegram stars: Telegram refused to stop a renewal")
            raise UserError("payment_unavailable") from None
        async with purchases.db.transaction() as session:
            return await repo.save_subscription(session, subscription.id, cancel_at_period_end=True)

    async def end_lapsed(self, now: datetime | None = None) -> int:
        """Ends the Stars subscriptions whose paid period ended more than the grace ago without a
        renewal; returns how many."""
        now = now or utcnow()
        before = now - RENEWAL_GRACE
        ended = 0
        while True:
            async with self.purchases.db.transaction() as session:
                lapsed = await repo.lapsed_subscriptions(session, f"{PROVIDER}:", before, BATCH)
                for subscription in lapsed:
                    await repo.save_subscription(
                        session, subscription.id, status=SubscriptionStatus.CANCELED, updated_at=now
                    )
                    await credits.lock(session, subscription.account_id)
                    period = (
                        int(subscription.current_period_end.timestamp())
                        if subscription.current_period_end
                        else 0
                    )
                    await credits.set_subscription(
                        session, subscription.account_id, 0, key=f"{subscription.id}:ended:{period}"
                    )
            ended += len(lapsed)
            if len(lapsed) < BATCH:
                return ended

    async def run(self, interval: timedelta = LAPSE_PASS) -> None:
        """Ends lapsed subscriptions once per interval among every process sharing the database."""
        owner = process_name(LEASE)
        while True:
            try:
                if await leases.take_turn(self.purchases.db, LEASE, owner, interval):
                    await self.end_lapsed()
            except Exception:
                log.exception("ending lapsed Stars subscriptions failed; trying again at the next pass")
                stop_if_cancelled()
            await asyncio.sleep(interval.total_seconds())
