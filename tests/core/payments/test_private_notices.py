"""A notice about someone's money never lands in a group, even for a purchase recorded with one (before
notices went privately): it goes to the account's private chat, or, when none is known, nowhere."""

from __future__ import annotations

from sqlalchemy import update

from core.db.models import Payment, PrivacyProfile
from core.i18n import translate
from tests.core.payments.conftest import Shop

GROUP = "console:group:lobby"


async def refund_of_a_purchase_recorded_for_a_group(shop: Shop, *, direct_chat_known: bool) -> int:
    """Alice bought the starter pack; its payment names a group; then it is refunded. Her balance then."""
    session = await shop.buy("starter")
    completed = shop.stripe.complete_session(session["id"])
    await shop.deliver("checkout.session.completed", completed)
    async with shop.harness.app.db.transaction() as db:
        await db.execute(update(Payment).values(chat=GROUP))
        if not direct_chat_known:
            await db.execute(update(PrivacyProfile).values(direct_chat=None))
    await shop.deliver(
        "charge.refunded", shop.stripe.refund(shop.stripe.charge_of(completed["payment_intent"]))
    )
    return (await shop.balance()).total


async def test_a_refund_recorded_for_a_group_is_told_in_the_private_chat(shop: Shop) -> None:
    balance = await refund_of_a_purchase_recorded_for_a_group(shop, direct_chat_known=True)
    refunded = translate("en", "payment.refunded", credits=500, balance=balance)
    assert [reply for reply in shop.harness.chat.sent["alice"] if reply.text.startswith(refunded)] != []
    assert shop.harness.chat.sent["lobby"] == []


async def test_without_a_known_private_chat_a_refund_is_not_told_in_the_group(shop: Shop) -> None:
    balance = await refund_of_a_purchase_recorded_for_a_group(shop, direct_chat_known=False)
    refunded = translate("en", "payment.refunded", credits=500, balance=balance)
    assert [reply for reply in shop.harness.chat.sent["alice"] if reply.text.startswith(refunded)] == []
    assert shop.harness.chat.sent["lobby"] == []
