"""An invitation's rewards go back with the purchase that earned them: refunded in full (Stripe,
Telegram Stars) or lost in a dispute, what is left of each side's reward is taken back once, never
below zero, and the invitation never pays again. Buying, collecting and refunding farms nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core import credits
from core.db.models import LedgerEntry, Referral
from core.i18n import translate
from core.messages import ChatRef
from core.policy import CreditSettings, ReferralSettings
from tests.core.growth.test_referrals import account_id, invitation
from tests.core.payments.conftest import Shop
from tests.harness import DatabaseTarget, Harness, harness_for

DEFAULT = ReferralSettings()
TRIAL = CreditSettings().trial
PACK = 500  # the starter pack's credits, in the shop and below
LEFT = 7  # of the inviter's reward, not spent when the refund comes


async def referral(harness: Harness) -> Referral:
    async with harness.app.db.read() as session:
        [found] = await session.scalars(select(Referral))
        return found


async def takebacks(harness: Harness) -> list[tuple[int, int]]:
    async with harness.app.db.read() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.idempotency_key.like("referral:%:revoked"))
        )
        return sorted((entry.account_id, entry.delta) for entry in rows)


async def total(harness: Harness, account: int) -> int:
    async with harness.app.db.read() as session:
        return (await credits.balance(session, account)).total


def told(harness: Harness, user: str, key: str, language: str = "en") -> list[str]:
    start = translate(language, key, credits=0, balance=0).split("0")[0]
    return [reply.text for reply in harness.chat.sent[user] if reply.text.startswith(start)]


async def test_a_refund_delivered_twice_takes_both_rewards_back_once_never_below_zero(shop: Shop) -> None:
    harness = shop.harness
    await harness.say(f"/redeem {await invitation(harness, 'alice')}", "bob")
    completed = shop.stripe.complete_session((await shop.buy("starter", "bob"))["id"])
    await shop.deliver("checkout.session.completed", completed)
    alice, bob = await account_id(harness, "alice"), await account_id(harness, "bob")
    assert await total(harness, alice) == TRIAL + DEFAULT.inviter_credits
    async with harness.app.db.transaction() as session:  # alice spends all but LEFT of her reward
        await credits.deduct(
            session, alice, TRIAL + DEFAULT.inviter_credits - LEFT, key="spent", note="spent"
        )

    refunded = shop.stripe.refund(shop.stripe.charge_of(completed["payment_intent"]))
    await shop.deliver("charge.refunded", refunded, times=2)
    await shop.deliver("charge.refunded", refunded)  # another event id, the same refund

    assert await takebacks(harness) == sorted([(alice, -LEFT), (bob, -DEFAULT.invitee_credits)])
    assert await total(harness, alice) == 0
    assert await total(harness, bob) == TRIAL
    revoked = await referral(harness)
    assert (revoked.status, revoked.shortfall) == ("revoked", DEFAULT.inviter_credits - LEFT)
    assert told(harness, "alice", "referral.revoked_inviter") == [
        translate("en", "referral.revoked_inviter", credits=LEFT, balance=0)
    ]
    assert len(told(harness, "bob", "referral.revoked_invitee")) == 1

    second = shop.stripe.complete_session((await shop.buy("starter", "bob"))["id"])
    await shop.deliver("checkout.session.completed", second)  # the invitation never pays again
    assert await total(harness, alice) == 0
    assert await total(harness, bob) == TRIAL + PACK
    await harness.assert_ledger_consistent()


async def test_a_partial_refund_keeps_the_rewards_and_a_lost_dispute_takes_them_back(shop: Shop) -> None:
    harness = shop.harness
    await harness.say(f"/redeem {await invitation(harness, 'alice')}", "bob")
    completed = shop.stripe.complete_session((await shop.buy("starter", "bob"))["id"])
    await shop.deliver("checkout.session.completed", completed)
    alice = await account_id(harness, "alice")
    charge = shop.stripe.charge_of(completed["payment_intent"])
    await shop.deliver("charge.refunded", shop.stripe.refund(charge, amount=100))
    assert await takebacks(harness) == []
    assert (await referral(harness)).status == "rewarded"

    dispute = shop.stripe.open_dispute(charge)
    await shop.deliver("charge.dispute.created", dispute)
    await shop.deliver("charge.dispute.closed", shop.stripe.close_dispute(dispute["id"], "lost"), times=2)
    assert (await referral(harness)).status == "revoked"
    assert await total(harness, alice) == TRIAL
    assert len(await takebacks(harness)) == 2
    await harness.assert_ledger_consistent()


async def test_stars_returned_twice_take_the_rewards_back_once_told_in_each_language(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    packs = [
        {"id": "starter", "name": "Starter", "credits": PACK, "amount": 999, "currency": "usd", "stars": 250}
    ]
    async with harness_for(database, tmp_path, run_workers=False, stripe={"packs": packs}) as harness:
        await harness.say("/language zh-CN", "alice")
        await harness.say(f"/redeem {await invitation(harness, 'alice')}", "bob")
        stars = harness.app.core.services.stars
        await stars.credit(harness.user("bob"), ChatRef("test", "private", "bob"), "starter", "charge-1", 250)
        alice, bob = await account_id(harness, "alice"), await account_id(harness, "bob")
        assert await stars.reclaim("charge-1") == PACK
        assert await stars.reclaim("charge-1") == 0  # Telegram told twice, or an operator's second try
        assert await takebacks(harness) == sorted(
            [(alice, -DEFAULT.inviter_credits), (bob, -DEFAULT.invitee_credits)]
        )
        assert (await total(harness, alice), await total(harness, bob)) == (TRIAL, TRIAL)
        assert told(harness, "alice", "referral.revoked_inviter", "zh-CN") == [
            translate("zh-CN", "referral.revoked_inviter", credits=DEFAULT.inviter_credits, balance=TRIAL)
        ]
        assert told(harness, "bob", "referral.revoked_invitee") == [
            translate("en", "referral.revoked_invitee", credits=DEFAULT.invitee_credits, balance=TRIAL)
        ]
        await harness.assert_ledger_consistent()
