"""Stripe's webhook deliveries in /metrics: by event type and what became of each, and the credits
they brought by ledger kind."""

from __future__ import annotations

import json

from tests.bot.metrics_page import scrape
from tests.core.payments.conftest import WEBHOOK_SECRET, Shop
from tests.fakes.stripe_api import event, sign_webhook

DELIVERIES = "image2bot_webhook_events_total"


async def test_webhook_events_are_counted_by_type_and_result(shop: Shop) -> None:
    session = await shop.buy("starter")
    completed = shop.stripe.complete_session(session["id"])
    envelope = event("checkout.session.completed", completed)
    payload = json.dumps(envelope).encode()
    signature = sign_webhook(payload, WEBHOOK_SECRET)
    assert await shop.post(payload, signature) == 200
    assert await shop.post(payload, signature) == 200  # Stripe delivering it again
    assert await shop.post(payload, sign_webhook(payload, "whsec_someone_else")) == 400
    assert await shop.post(b"[]", sign_webhook(b"[]", WEBHOOK_SECRET)) == 400
    await shop.deliver("customer.created", {"id": "cus_1", "object": "customer"})
    await shop.settle()

    assert shop.harness.app.web is not None
    page = await scrape(f"http://127.0.0.1:{shop.harness.app.web.port}")
    checkout = {"source": "stripe", "type": "checkout.session.completed"}
    assert page.value(DELIVERIES, **checkout, result="accepted") == 1
    assert page.value(DELIVERIES, **checkout, result="duplicate") == 1
    assert page.value(DELIVERIES, source="stripe", type="unknown", result="invalid_signature") == 1
    assert page.value(DELIVERIES, source="stripe", type="unknown", result="malformed") == 1
    assert page.value(DELIVERIES, source="stripe", type="other", result="accepted") == 1
    assert page.value("image2bot_credits_by_kind", kind="purchase") == 500
    assert not any("cus_" in value or "cs_" in value for value in page.label_values())
