"""Plans paid with invoices shaped as Stripe sends them today: decimal strings on every line, the
subscription under `parent`, payments as InvoicePayment objects, the paid period on the lines."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from core.db.models import Payment
from core.i18n import translate
from core.i18n.local_time import Clock
from core.payments.webhooks import StripeEvents
from tests.core.payments.conftest import WEBHOOK_SECRET, Shop
from tests.fakes.stripe_api import event, sign_webhook


async def subscribe(shop: Shop) -> dict[str, Any]:
    """/buy pro, paid: the completed Checkout Session (its subscription now exists at the double)."""
    session = await shop.buy("pro")
    completed = shop.stripe.complete_session(session["id"])
    await shop.deliver("checkout.session.completed", completed)
    return completed


def day(unix: int) -> str:
    return Clock("en", "UTC").day(datetime.fromtimestamp(unix, UTC))  # alice reads English, in UTC


async def plan_payments(shop: Shop) -> list[Payment]:
    async with shop.harness.app.db.transaction() as session:
        return list((await session.scalars(select(Payment).where(Payment.kind == "plan"))).all())


async def test_a_real_invoice_sent_five_times_to_two_handlers_fills_the_bucket_once(shop: Shop) -> None:
    completed = await subscribe(shop)
    invoice = shop.stripe.pay_invoice(completed["subscription"])
    [line] = invoice["lines"]["data"]
    assert isinstance(line["pricing"]["unit_amount_decimal"], str), "what made every real invoice fail"
    payload = json.dumps(event("invoice.paid", invoice)).encode()
    statuses = await asyncio.gather(
        *(shop.post(payload, sign_webhook(payload, WEBHOOK_SECRET)) for _ in range(5))
    )
    assert set(statuses) == {200}
    other_process = StripeEvents(
        shop.harness.app.db,
        shop.events.gateway,
        shop.events.catalogue,
        shop.harness.app.notifier,
        default_language="en",
    )
    await asyncio.gather(shop.events.process_due(), other_process.process_due())
    await shop.harness.app.notifier.drain()

    assert (await shop.balance()).subscription == 1000
    notice = translate("en", "payment.cycle", plan="Pro monthly", credits=1000, balance=1040)
    assert sum(reply.text.startswith(notice) for reply in shop.harness.chat.sent["alice"]) == 1
    [payment] = await plan_payments(shop)
    [invoice_payment] = [p for p in shop.stripe.invoice_payments.values() if p["invoice"] == invoice["id"]]
    assert payment.payment_intent == invoice_payment["payment"]["payment_intent"]
    [status] = await shop.harness.say("/subscription")
    assert day(line["period"]["end"]) in status.text
    await shop.harness.assert_ledger_consistent()


async def test_a_renewal_refills_the_bucket_and_shows_the_new_period_end(shop: Shop) -> None:
    completed = await subscribe(shop)
    await shop.deliver("invoice.paid", shop.stripe.pay_invoice(completed["subscription"]))
    await shop.harness.imagine("a lighthouse")
    assert (await shop.balance()).subscription == 990

    renewal = shop.stripe.pay_invoice(completed["subscription"], billing_reason="subscription_cycle")
    await shop.deliver("invoice.paid", renewal)

    assert (await shop.balance()).subscription == 1000, "unused credits do not roll over; the cycle refills"
    [line] = renewal["lines"]["data"]
    assert day(renewal["period_end"]) != day(line["period"]["end"]), "the top-level period is the old one"
    [status] = await shop.harness.say("/subscription")
    assert day(line["period"]["end"]) in status.text
    assert day(renewal["period_end"]) not in status.text
    await shop.harness.assert_ledger_consistent()


async def test_a_refunded_cycle_takes_back_what_is_left_and_records_the_shortfall(shop: Shop) -> None:
    completed = await subscribe(shop)
    await shop.deliver("invoice.paid", shop.stripe.pay_invoice(completed["subscription"]))
    for _ in range(3):
        await shop.harness.imagine("a lighthouse --res 2k")  # 60 of the cycle's 1000 spent
    [payment] = await plan_payments(shop)
    assert payment.payment_intent

    refunded = shop.stripe.refund(shop.stripe.charge_of(payment.payment_intent))
    await shop.deliver("charge.refunded", refunded, times=3)

    balance = await shop.balance()
    assert balance.subscription == 0
    assert balance.one_time == 40, "the trial is not the plan's to take"
    [payment] = await plan_payments(shop)
    assert (payment.credits_reclaimed, payment.shortfall, payment.status) == (940, 60, "refunded")
    notice = translate("en", "payment.refunded", credits=940, balance=40)
    assert sum(reply.text.startswith(notice) for reply in shop.harness.chat.sent["alice"]) == 1
    await shop.harness.assert_ledger_consistent()


async def test_refunding_a_replaced_cycle_takes_nothing_from_the_current_one(shop: Shop) -> None:
    completed = await subscribe(shop)
    await shop.deliver("invoice.paid", shop.stripe.pay_invoice(completed["subscription"]))
    await shop.deliver(
        "invoice.paid",
        shop.stripe.pay_invoice(completed["subscription"], billing_reason="subscription_cycle"),
    )
    first, _renewal = sorted(await plan_payments(shop), key=lambda payment: payment.id)
    assert first.payment_intent

    await shop.deliver("charge.refunded", shop.stripe.refund(shop.stripe.charge_of(first.payment_intent)))

    assert (await shop.balance()).subscription == 1000
    first, _renewal = sorted(await plan_payments(shop), key=lambda payment: payment.id)
    assert (first.credits_reclaimed, first.shortfall) == (0, 1000)
    await shop.harness.assert_ledger_consistent()
