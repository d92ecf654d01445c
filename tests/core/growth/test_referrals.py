"""Invitations: both sides are paid once, after the invitee's first purchase only (a Stripe webhook
delivered many times still pays once; a sign-up alone pays nothing); an account is invited once, never
by itself."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from core.db.models import LedgerEntry
from core.growth.referrals import Invitation
from core.i18n import translate
from core.messages import ChatRef, Incoming, UserRef
from core.policy import ReferralSettings
from tests.core.payments.conftest import Shop
from tests.harness import DatabaseTarget, Harness, harness_for

DEFAULT = ReferralSettings()


async def invitation(harness: Harness, user: str = "alice") -> str:
    [reply] = await harness.say("/invite", user)
    assert reply.private
    found = re.search(r"ref-[A-Z0-9]{8}", reply.text)
    assert found is not None, reply.text
    return found.group(0)


async def referral_entries(harness: Harness) -> list[tuple[int, int]]:
    async with harness.app.db.read() as session:
        rows = await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "referral"))
        return sorted((entry.account_id, entry.delta) for entry in rows)


async def account_id(harness: Harness, user: str) -> int:
    account = await harness.app.core.services.accounts.find("test", user)
    assert account is not None
    return account.id


async def test_both_sides_are_paid_once_after_the_first_purchase_however_often_it_is_reported(
    shop: Shop,
) -> None:
    harness = shop.harness
    code = await invitation(harness, "alice")
    [accepted] = await harness.say(f"/redeem {code.lower()}", "bob")
    assert accepted.text == translate("en", "invite.accepted", credits=DEFAULT.invitee_credits)
    assert await referral_entries(harness) == []  # a sign-up alone pays nothing

    session = await shop.buy("starter", "bob")
    completed = shop.stripe.complete_session(session["id"])
    await shop.deliver("checkout.session.completed", completed, times=4)
    await shop.deliver("checkout.session.completed", completed)  # another event id, the same purchase
    alice, bob = await account_id(harness, "alice"), await account_id(harness, "bob")
    assert await referral_entries(harness) == sorted(
        [(alice, DEFAULT.inviter_credits), (bob, DEFAULT.invitee_credits)]
    )

    second = shop.stripe.complete_session((await shop.buy("starter", "bob"))["id"])
    await shop.deliver("checkout.session.completed", second)  # a second purchase pays no one
    assert len(await referral_entries(harness)) == 2

    told = [reply.text for reply in harness.chat.sent["alice"]]
    notice = translate("en", "referral.rewarded_inviter", credits=DEFAULT.inviter_credits, balance="|")
    assert sum(text.startswith(notice.split("|")[0]) for text in told) == 1
    [shown] = await harness.say("/invite", "alice")
    assert translate("en", "invite.count", invited=1, bought=1) in shown.text
    await harness.assert_ledger_consistent()


async def test_a_plan_is_a_first_purchase_too(shop: Shop) -> None:
    harness = shop.harness
    code = await invitation(harness, "alice")
    await harness.say(f"/start {code}", "bob")
    completed = shop.stripe.complete_session((await shop.buy("pro", "bob"))["id"])
    await shop.deliver("checkout.session.completed", completed)
    invoice = shop.stripe.pay_invoice(completed["subscription"])
    await shop.deliver("invoice.paid", invoice, times=3)
    assert len(await referral_entries(harness)) == 2


async def test_an_account_is_invited_once_never_by_itself_and_only_before_it_buys(shop: Shop) -> None:
    harness = shop.harness
    alice_code = await invitation(harness, "alice")
    carol_code = await invitation(harness, "carol")
    [own] = await harness.say(f"/redeem {alice_code}", "alice")
    assert own.text == translate("en", "error.invite_own")
    await harness.say(f"/redeem {alice_code}", "bob")
    [twice] = await harness.say(f"/redeem {carol_code}", "bob")
    assert twice.text == translate("en", "error.invite_already")
    [back] = await harness.say(f"/redeem {await invitation(harness, 'bob')}", "alice", locale="zh-CN")
    assert back.text == translate("zh-CN", "error.invite_own")  # inviting each other: rewarding oneself
    [other] = await harness.say(f"/redeem {carol_code}", "alice")
    assert not other.error  # alice herself was invited by no one

    completed = shop.stripe.complete_session((await shop.buy("starter", "dave"))["id"])
    await shop.deliver("checkout.session.completed", completed)
    [customer] = await harness.say(f"/redeem {alice_code}", "dave")
    assert customer.text == translate("en", "error.invite_customer")
    [unknown] = await harness.say("/redeem ref-ZZZZZZZZ", "erin")
    assert unknown.text == translate("en", "error.redeem_unknown")


async def test_an_identity_linked_to_the_inviter_cannot_accept_its_invitation(idle: Harness) -> None:
    code = await invitation(idle, "alice")
    [linking] = await idle.say("/link", "alice")
    link_code = re.search(r"\b\d{6,}\b|\b[A-Z0-9]{6,}\b", linking.text)
    assert link_code is not None, linking.text
    other = UserRef("console", "alice-laptop")
    await idle.app.core.dispatch(
        Incoming(other, ChatRef("console", "private", "alice-laptop"), f"/link {link_code.group(0)}")
    )
    same = await idle.app.core.services.accounts.find("console", "alice-laptop")
    assert same is not None
    assert same.id == await account_id(idle, "alice")
    [refused] = await idle.app.core.dispatch(
        Incoming(other, ChatRef("console", "private", "alice-laptop"), f"/redeem {code}")
    )
    assert refused.text == translate("en", "error.invite_own")


async def test_a_stars_purchase_reported_twice_pays_both_sides_once(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    packs = [
        {"id": "starter", "name": "Starter", "credits": 500, "amount": 999, "currency": "usd", "stars": 250}
    ]
    async with harness_for(database, tmp_path, run_workers=False, stripe={"packs": packs}) as harness:
        code = await invitation(harness, "alice")
        await harness.say(f"/redeem {code}", "bob")
        bob = harness.user("bob")
        chat = ChatRef("test", "private", "bob")
        for _ in range(2):  # Telegram repeats an update it thinks was not received
            await harness.app.core.services.stars.credit(bob, chat, "starter", "charge-1", 250)
        alice_id, bob_id = await account_id(harness, "alice"), await account_id(harness, "bob")
        assert await referral_entries(harness) == sorted(
            [(alice_id, DEFAULT.inviter_credits), (bob_id, DEFAULT.invitee_credits)]
        )
        await harness.assert_ledger_consistent()


async def test_an_invitation_opened_before_the_terms_are_accepted_says_how_to_accept_it_after(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as open_bot:
        code = await invitation(open_bot, "alice")
    async with harness_for(
        database, tmp_path, run_workers=False, privacy={"require_acceptance": True}
    ) as harness:
        prompt, waiting = await harness.say(f"/start {code}", "bob", locale="zh-CN")
        assert [choice.command for row in prompt.choices for choice in row] == ["/accept"]
        assert waiting.text == translate("zh-CN", "invite.after_terms", code=code)
        assert await harness.app.core.services.referrals.invite(
            await account_id(harness, "alice"), ChatRef("test", "private", "alice")
        ) == Invitation(code, 0, 0), "nothing recorded before the terms are accepted"
        await harness.say("/accept", "bob")
        [accepted] = await harness.say(f"/redeem {code}", "bob")
        assert accepted.text == translate("en", "invite.accepted", credits=DEFAULT.invitee_credits)
