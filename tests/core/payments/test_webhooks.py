"""Stripe's webhooks: verified, stored, and crediting exactly once, whatever order and however often."""

from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from core import credits
from core.db.models import Payment, StripeEvent
from core.i18n import translate
from core.messages import ChatRef, Incoming, UserRef
from tests.core.payments.conftest import WEBHOOK_SECRET, Shop
from tests.fakes.stripe_api import event, sign_webhook, stripe_client

OTHER_PRICE = {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Mug"}}


def notices(shop: Shop, user: str = "alice") -> list[str]:
    return [reply.text for reply in shop.harness.chat.sent[user]]


async def test_a_completed_checkout_sent_five_times_at_once_credits_once(shop: Shop) -> None:
    session = await shop.buy("starter")
    before = (await shop.balance()).total
    completed = shop.stripe.complete_session(session["id"])

    await shop.deliver("checkout.session.completed", completed, times=5)
    await shop.deliver("checkout.session.completed", completed)  # a new event id for the same purchase

    after = await shop.balance()
    assert after.total == before + 500
    assert after.one_time == before + 500
    received = translate("en", "payment.received", credits=500, balance=before + 500)
    assert sum(text.startswith(received) for text in notices(shop)) == 1
    async with shop.harness.app.db.transaction() as session_db:
        assert await session_db.scalar(select(func.count()).select_from(Payment)) == 1
    await shop.harness.assert_ledger_consistent()


async def test_forged_tampered_and_stale_signatures_are_refused_and_nothing_is_stored(shop: Shop) -> None:
    session = await shop.buy("starter")
    before = (await shop.balance()).total
    payload = json.dumps(
        event("checkout.session.completed", shop.stripe.complete_session(session["id"]))
    ).encode()
    good = sign_webhook(payload, WEBHOOK_SECRET)
    tampered = payload.replace(b'"starter"', b'"studio"')
    stale = sign_webhook(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)

    assert await shop.post(payload, None) == 400
    assert await shop.post(payload, sign_webhook(payload, "whsec_someone_else")) == 400
    assert await shop.post(tampered, good) == 400
    assert await shop.post(payload, stale) == 400
    assert await shop.post(b"not json", sign_webhook(b"not json", WEBHOOK_SECRET)) == 400
    await shop.settle()

    assert (await shop.balance()).total == before
    async with shop.harness.app.db.transaction() as session_db:
        assert await session_db.scalar(select(func.count()).select_from(StripeEvent)) == 0


async def test_unknown_event_types_are_acknowledged_and_ignored(shop: Shop) -> None:
    await shop.harness.say("/balance")
    before = await shop.balance()
    event_id = await shop.deliver("customer.created", {"id": "cus_1", "object": "customer"})
    assert await shop.balance() == before
    async with shop.harness.app.db.transaction() as session_db:
        stored = await session_db.get(StripeEvent, event_id)
        assert stored is not None
        assert stored.handled_at is not None


async def test_an_unpaid_completion_waits_for_the_delayed_payment(shop: Shop) -> None:
    session = await shop.buy("starter")
    before = (await shop.balance()).total
    pending = shop.stripe.complete_session(session["id"], payment_status="unpaid")
    await shop.deliver("checkout.session.completed", pending)
    assert (await shop.balance()).total == before
    await shop.deliver("checkout.session.async_payment_succeeded", {**pending, "payment_status": "paid"})
    assert (await shop.balance()).total == before + 500


async def test_invoice_paid_sets_the_subscription_bucket_once_per_invoice(shop: Shop) -> None:
    session = await shop.buy("pro")
    completed = shop.stripe.complete_session(session["id"])
    invoice = shop.stripe.pay_invoice(completed["subscription"])
    await shop.deliver("invoice.paid", invoice)  # before the checkout's own event: order is not promised
    await shop.deliver("checkout.session.completed", completed)
    await shop.deliver("invoice.paid", invoice)

    balance = await shop.balance()
    assert balance.subscription == 1000
    cycle = [text for text in notices(shop) if text.startswith("New billing cycle")]
    assert len(cycle) == 1

    await shop.harness.imagine("a cat")  # 10 credits, from the subscription bucket first
    renewal = shop.stripe.pay_invoice(completed["subscription"], billing_reason="subscription_cycle")
    await shop.deliver("invoice.paid", renewal)
    assert (await shop.balance()).subscription == 1000, "unused credits do not roll over; the cycle refills"
    await shop.harness.assert_ledger_consistent()


async def test_a_refund_after_spending_takes_back_what_is_left_and_records_the_shortfall(shop: Shop) -> None:
    session = await shop.buy("starter")
    completed = shop.stripe.complete_session(session["id"])
    await shop.deliver("checkout.session.completed", completed)
    account_balance = await shop.balance()
    spend = account_balance.one_time - 100  # spent on images, as a ledger reserve and settle
    account = await shop.harness.app.core.services.accounts.find("test", "alice")
    assert account is not None
    async with shop.harness.app.db.transaction() as db_session:
        hold = await credits.reserve(db_session, account.id, spend, key="test:spend")
        await credits.settle(db_session, hold.id)

    charge = shop.stripe.refund(shop.stripe.charge_of(completed["payment_intent"]))
    await shop.deliver("charge.refunded", charge, times=3)

    assert (await shop.balance()).total == 0
    async with shop.harness.app.db.transaction() as db_session:
        [payment] = (await db_session.scalars(select(Payment))).all()
    assert (payment.credits_reclaimed, payment.shortfall, payment.status) == (100, 400, "refunded")
    await shop.harness.assert_ledger_consistent()


async def test_a_dispute_freezes_new_images_until_it_is_won(shop: Shop) -> None:
    session = await shop.buy("starter")
    completed = shop.stripe.complete_session(session["id"])
    await shop.deliver("checkout.session.completed", completed)
    dispute = shop.stripe.open_dispute(shop.stripe.charge_of(completed["payment_intent"]))

    await shop.deliver("charge.dispute.created", dispute)
    [refused] = await shop.harness.say("/imagine a cat")
    assert refused.text == translate("en", "error.account_frozen")
    assert translate("en", "payment.disputed") in "\n".join(notices(shop))

    await shop.deliver("charge.dispute.closed", shop.stripe.close_dispute(dispute["id"], "won"))
    await shop.harness.imagine("a cat")


async def test_reconciliation_applies_a_missed_checkout_and_skips_a_credited_one(shop: Shop) -> None:
    missed = await shop.buy("starter")
    credited = await shop.buy("creator")
    before = (await shop.balance()).total
    await shop.deliver("checkout.session.completed", shop.stripe.complete_session(credited["id"]))
    shop.stripe.complete_session(missed["id"])  # paid, but its webhook never came

    await shop.events.reconcile()
    await shop.events.reconcile()

    assert (await shop.balance()).total == before + 1200 + 500
    await shop.harness.assert_ledger_consistent()


async def test_a_checkout_made_by_something_else_on_the_account_is_set_aside_not_retried(shop: Shop) -> None:
    async with stripe_client(shop.stripe) as another_app:  # the same Stripe account, another shop
        other = await another_app.v1.checkout.sessions.create_async(
            {
                "mode": "payment",
                "line_items": [{"price_data": OTHER_PRICE, "quantity": 1}],
                "success_url": "https://shop.test/ok",
            }
        )
    foreign = shop.stripe.complete_session(other.id)
    event_id = await shop.deliver("checkout.session.completed", foreign)
    async with shop.harness.app.db.transaction() as session_db:
        stored = await session_db.get(StripeEvent, event_id)
        assert stored is not None
        assert (stored.handled_at is not None, stored.attempts) == (True, 0)
        assert await session_db.scalar(select(func.count()).select_from(Payment)) == 0


async def test_a_purchase_started_before_linking_accounts_lands_in_the_joined_wallet(shop: Shop) -> None:
    harness = shop.harness
    elsewhere = UserRef("other", "a-on-discord")
    chat = ChatRef("other", "dm", "chan")
    [reply] = await harness.app.core.dispatch(Incoming(elsewhere, chat, "/buy starter"))
    [session] = [s for s in shop.stripe.checkout_sessions.values() if s["url"] in reply.text]
    [code_reply] = await harness.say("/link")
    code = code_reply.text.split("/link ")[1].split()[0]
    await harness.app.core.dispatch(Incoming(elsewhere, chat, f"/link {code}"))
    joined = (await shop.balance()).total

    await shop.deliver("checkout.session.completed", shop.stripe.complete_session(session["id"]))

    assert (await shop.balance()).total == joined + 500, "credits follow the person into the joined wallet"
    await harness.assert_ledger_consistent()
