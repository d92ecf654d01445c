"""Chargebacks from opening to the bank's decision, told truthfully at each step; a lost one keeps the
account paused until an operator lifts it; early fraud warnings are recorded for operators only."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from core.db.models import AuditEvent, Payment
from core.i18n import translate
from tests.core.payments.conftest import Operator, Shop


async def paid_pack(shop: Shop) -> str:
    """Alice bought the starter pack (500 credits); the charge id of that payment."""
    session = await shop.buy("starter")
    completed = shop.stripe.complete_session(session["id"])
    await shop.deliver("checkout.session.completed", completed)
    return shop.stripe.charge_of(completed["payment_intent"])


def notices(shop: Shop) -> list[str]:
    return [reply.text for reply in shop.harness.chat.sent["alice"]]


async def refusal(shop: Shop) -> str:
    [reply] = await shop.harness.say("/imagine a cat")
    assert reply.error, reply.text
    return reply.text


async def payment_status(shop: Shop) -> str:
    async with shop.harness.app.db.transaction() as session:
        [payment] = (await session.scalars(select(Payment))).all()
        return payment.status


async def test_a_won_dispute_pauses_images_then_lifts_the_pause(shop: Shop) -> None:
    charge = await paid_pack(shop)
    dispute = shop.stripe.open_dispute(charge)

    await shop.deliver("charge.dispute.created", dispute)
    assert await refusal(shop) == translate("en", "error.account_frozen")
    assert any(text.startswith(translate("en", "payment.disputed")) for text in notices(shop))
    assert await payment_status(shop) == "disputed"

    await shop.deliver("charge.dispute.closed", shop.stripe.close_dispute(dispute["id"], "won"))
    assert any(text.startswith(translate("en", "payment.dispute_won")) for text in notices(shop))
    await shop.harness.imagine("a cat")
    assert await payment_status(shop) == "paid"
    assert (await shop.balance()).total == 40 + 500 - 10


async def test_a_lost_dispute_takes_the_credits_back_and_waits_for_an_operator(
    shop: Shop, operator: Operator
) -> None:
    charge = await paid_pack(shop)
    await shop.harness.imagine("a cat")  # 10 of the trial's 40 spent first, then the pack's
    for _ in range(4):
        await shop.harness.imagine("a lighthouse --res 2k")  # 80: the trial's last 30 and 50 of the pack
    dispute: dict[str, Any] = {**shop.stripe.open_dispute(charge), "payment_intent": None}  # names a charge

    await shop.deliver("charge.dispute.created", dispute)
    lost = {**shop.stripe.close_dispute(dispute["id"], "lost"), "payment_intent": None}
    await shop.deliver("charge.dispute.closed", lost, times=3)

    assert (await shop.balance()).total == 0
    told = translate("en", "payment.dispute_lost", credits=450, balance=0)
    assert sum(text.startswith(told) for text in notices(shop)) == 1
    assert not any(text.startswith(translate("en", "payment.dispute_won")) for text in notices(shop))
    assert await refusal(shop) == translate("en", "error.account_frozen_lost")
    async with shop.harness.app.db.transaction() as session:
        [payment] = (await session.scalars(select(Payment))).all()
    assert (payment.status, payment.credits_reclaimed, payment.shortfall) == ("dispute_lost", 450, 50)
    await shop.harness.assert_ledger_consistent()

    code, out, err = await operator.run("admin", "unfreeze", "test:alice", "--reason", "bank confirmed fraud")
    assert code == 0, err
    assert "unfrozen" in out
    await shop.harness.app.notifier.drain()  # the operator's process queued the news; the bot delivers it
    assert any(text.startswith(translate("en", "payment.unfrozen")) for text in notices(shop))
    [refused] = await shop.harness.say("/imagine a cat")
    assert refused.text.startswith(translate("en", "error.insufficient_credits", cost=10, balance=0))
    async with shop.harness.app.db.transaction() as session:
        [audited] = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "account_unfrozen"))
        ).all()
    assert audited.actor.startswith("cli:")  # the command line, with the login of who ran it
    assert audited.details == {"was": "dispute_lost", "reason": "bank confirmed fraud"}


async def test_an_early_fraud_warning_is_recorded_for_operators_and_changes_nothing(
    shop: Shop, operator: Operator
) -> None:
    charge = await paid_pack(shop)
    before = await shop.balance()
    sent_before = len(notices(shop))

    await shop.deliver("radar.early_fraud_warning.created", shop.stripe.early_fraud_warning(charge))

    assert await shop.balance() == before
    assert len(notices(shop)) == sent_before
    await shop.harness.imagine("a cat")
    code, out, err = await operator.run("users", "show", "test:alice", "--json")
    assert code == 0, err
    report = json.loads(out)
    [warning] = report["fraud_warnings"]
    assert (warning["charge"], warning["fraud_type"]) == (charge, "made_with_stolen_card")
    assert report["frozen"] is None
