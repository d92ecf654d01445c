"""The real stripe SDK (StripeClient + AIOHTTPClient) against the local Stripe double, over HTTP."""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.fakes import stripe_fixtures, stripe_objects
from tests.fakes.stripe_api import (
    StripeAPIDouble,
    event,
    parse_form,
    sign_webhook,
    stripe_api_fixture,  # noqa: F401  (the `stripe_api` fixture)
    stripe_client,
)
from tests.fakes.stripe_fixtures import resources

SECRET = "whsec_test_double"


def _subscription_checkout(**extra: Any) -> dict[str, Any]:
    return {
        "mode": "subscription",
        "line_items": [{"price": "price_pro", "quantity": 1}],
        "client_reference_id": "42",
        "metadata": {"account_id": "7"},
        "subscription_data": {"metadata": {"item": "pro"}},
        "success_url": "https://bot.test/ok",
        **extra,
    }


def test_bracket_keys_become_nested_params() -> None:
    pairs = [
        ("metadata[account_id]", "7"),
        ("metadata[0]", "zero"),
        ("line_items[0][price]", "price_1"),
        ("line_items[0][quantity]", "1"),
        ("line_items[1][price_data][recurring][interval]", "month"),
        ("subscription_data[metadata][item]", "pro"),
        ("expand[0]", "line_items"),
    ]
    assert parse_form(pairs) == {
        "metadata": {"account_id": "7", "0": "zero"},
        "line_items": [
            {"price": "price_1", "quantity": "1"},
            {"price_data": {"recurring": {"interval": "month"}}},
        ],
        "subscription_data": {"metadata": {"item": "pro"}},
        "expand": ["line_items"],
    }


async def test_checkout_session_is_idempotent(stripe_api: StripeAPIDouble) -> None:
    stripe_api.add_price("price_pro", 990, "usd", recurring_interval="month")
    async with stripe_client(stripe_api) as client:
        sessions = client.v1.checkout.sessions
        first = await sessions.create_async(_subscription_checkout(), {"idempotency_key": "buy-7-1"})
        again = await sessions.create_async(_subscription_checkout(), {"idempotency_key": "buy-7-1"})
        with pytest.raises(stripe.IdempotencyError):
            await sessions.create_async(
                _subscription_checkout(client_reference_id="43"), {"idempotency_key": "buy-7-1"}
            )
        fetched = await sessions.retrieve_async(first.id)

    assert first.to_dict() == again.to_dict() == fetched.to_dict()
    assert list(stripe_api.checkout_sessions) == [first.id]
    assert first.id.startswith("cs_test_")
    assert first.url == f"https://checkout.stripe.test/c/pay/{first.id}"
    assert (first.status, first.payment_status, first.amount_total, first.currency) == (
        "open",
        "unpaid",
        990,
        "usd",
    )
    assert first.metadata.to_dict() == {"account_id": "7"}
    assert first.subscription is None
    posts = stripe_api.of("POST", "/v1/checkout/sessions")
    assert [(call.idempotency_key, call.replayed, call.status) for call in posts] == [
        ("buy-7-1", False, 200),
        ("buy-7-1", True, 200),
        ("buy-7-1", False, 400),
    ]
    assert posts[0].params == {
        "mode": "subscription",
        "line_items": [{"price": "price_pro", "quantity": "1"}],  # the wire carries strings
        "client_reference_id": "42",
        "metadata": {"account_id": "7"},
        "subscription_data": {"metadata": {"item": "pro"}},
        "success_url": "https://bot.test/ok",
    }


async def test_price_data_and_stripe_errors(stripe_api: StripeAPIDouble) -> None:
    inline = {"currency": "eur", "unit_amount": 250, "product_data": {"name": "Credits"}}
    async with stripe_client(stripe_api) as client:
        sessions = client.v1.checkout.sessions
        session = await sessions.create_async(
            {"mode": "payment", "line_items": [{"price_data": inline, "quantity": 4}]}
        )
        with pytest.raises(stripe.InvalidRequestError) as unknown_price:
            await sessions.create_async(
                {"mode": "payment", "line_items": [{"price": "price_nope", "quantity": 1}]}
            )
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await sessions.retrieve_async("cs_test_nope")
    async with stripe_client(stripe_api, api_key="sk_test_other") as wrong_key:
        with pytest.raises(stripe.AuthenticationError):
            await wrong_key.v1.checkout.sessions.list_async()

    assert (session.amount_total, session.currency) == (1000, "eur")
    assert (unknown_price.value.code, unknown_price.value.param) == (
        "resource_missing",
        "line_items[0][price]",
    )
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


async def test_list_filters_and_pages(stripe_api: StripeAPIDouble) -> None:
    stripe_api.add_price("price_pro", 990, "usd", recurring_interval="month")
    stripe_api.clock = lambda: 1_000
    async with stripe_client(stripe_api) as client:
        sessions = client.v1.checkout.sessions
        old = await sessions.create_async(_subscription_checkout())
        stripe_api.clock = lambda: 2_000
        created = [await sessions.create_async(_subscription_checkout()) for _ in range(3)]
        completed = stripe_api.complete_session(created[0].id, customer="cus_7")

        complete = await sessions.list_async({"status": "complete"})
        recent = await sessions.list_async({"created": {"gte": 2_000}, "limit": 2})
        every = [session.id async for session in recent.auto_paging_iter()]

    assert [session.id for session in complete.data] == [created[0].id]
    assert recent.has_more is True
    assert recent.url == "/v1/checkout/sessions"
    assert every == [session.id for session in reversed(created)]  # newest first, `old` filtered out
    assert old.id not in every
    assert stripe_api.of("GET", "/v1/checkout/sessions")[1].params == {
        "created": {"gte": "2000"},
        "limit": "2",
    }
    assert stripe_api.of("GET", "/v1/checkout/sessions")[2].params["starting_after"] == every[1]
    assert (completed["status"], completed["customer"]) == ("complete", "cus_7")
    assert stripe_api.subscriptions[completed["subscription"]]["metadata"] == {"item": "pro"}


async def test_portal_subscription_invoices_and_charges(stripe_api: StripeAPIDouble) -> None:
    stripe_api.add_price("price_pro", 990, "usd", recurring_interval="month")
    stripe_api.add_subscription("sub_1", "cus_7", "price_pro", "active", 5_000_000, {"account_id": "7"})
    stripe_api.add_invoice("in_1", "cus_7", amount_paid=990, subscription_id="sub_1", created=10)
    stripe_api.add_invoice("in_2", "cus_8", amount_paid=990, created=20)
    stripe_api.add_charge("ch_1", "cus_7", amount=990, created=10)
    async with stripe_client(stripe_api) as client:
        portal = await client.v1.billing_portal.sessions.create_async(
            {"customer": "cus_7", "return_url": "https://bot.test/back"}
        )
        updated = await client.v1.subscriptions.update_async(
            "sub_1", {"cancel_at_period_end": True, "metadata": {"reason": "price"}}
        )
        fetched = await client.v1.subscriptions.retrieve_async("sub_1")
        invoices = await client.v1.invoices.list_async({"customer": "cus_7"})
        charges = await client.v1.charges.list_async({"customer": "cus_7"})

    assert portal.object == "billing_portal.session"
    assert portal.url == f"https://billing.stripe.test/p/session/{portal.id}"
    assert stripe_api.of("POST", "/v1/subscriptions/sub_1")[0].params == {
        "cancel_at_period_end": "true",
        "metadata": {"reason": "price"},
    }
    assert updated.to_dict() == fetched.to_dict()
    assert fetched.cancel_at_period_end is True
    assert fetched.cancel_at == fetched["items"].data[0].current_period_end == 5_000_000
    assert fetched.metadata.to_dict() == {"account_id": "7", "reason": "price"}
    assert [invoice.id for invoice in invoices.data] == ["in_1"]
    assert invoices.data[0].parent.subscription_details.subscription == "sub_1"
    assert [charge.id for charge in charges.data] == ["ch_1"]


async def test_rate_limit_is_not_retried_but_server_errors_are(stripe_api: StripeAPIDouble) -> None:
    stripe_api.add_price("price_pro", 990, "usd", recurring_interval="month")
    stripe_api.fail_next("/v1/checkout/sessions", 429)
    stripe_api.fail_next("/v1/checkout/sessions", 500)
    async with stripe_client(stripe_api, max_network_retries=1) as client:
        with pytest.raises(stripe.RateLimitError) as limited:
            await client.v1.checkout.sessions.create_async(_subscription_checkout())
        session = await client.v1.checkout.sessions.create_async(_subscription_checkout())

    assert limited.value.http_status == 429
    assert limited.value.code is None  # the SDK drops `code` on RateLimitError; it stays on `.error`
    assert limited.value.error is not None
    assert limited.value.error.code == "rate_limit"
    limited_call, failed, retried = stripe_api.of("POST", "/v1/checkout/sessions")
    assert [limited_call.status, failed.status, retried.status] == [429, 500, 200]
    assert failed.response["error"]["type"] == "api_error"
    assert failed.idempotency_key == retried.idempotency_key  # the SDK's own key, reused on its retry
    assert list(stripe_api.checkout_sessions) == [session.id]


def test_webhook_signature_is_what_the_sdk_verifies() -> None:
    session = {"id": "cs_test_1", "object": "checkout.session", "status": "complete", "metadata": {"a": "1"}}
    payload = json.dumps(event("checkout.session.completed", session, event_id="evt_1")).encode()
    now = int(time.time())

    received = stripe.Webhook.construct_event(payload, sign_webhook(payload, SECRET), SECRET)
    assert (received.id, received.type, received.data.object.id) == (
        "evt_1",
        "checkout.session.completed",
        "cs_test_1",
    )
    assert sign_webhook(payload, SECRET, timestamp=now) == stripe.WebhookSignature.generate_signature_header(
        payload.decode(), SECRET, timestamp=now
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            payload.replace(b"complete", b"expired"), sign_webhook(payload, SECRET), SECRET
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign_webhook(payload, SECRET, timestamp=now - 301), SECRET)


# --- objects shaped like Stripe's own ---------------------------------------------------------------

NOW = 1_760_000_000
MONTH = 30 * 24 * 3600
LIST_KEYS = {"object", "data", "has_more", "url"}
EVERY_KIND = {
    "price",
    "plan",
    "checkout.session",
    "billing_portal.session",
    "subscription",
    "subscription_item",
    "invoice",
    "line_item",
    "invoice_payment",
    "payment_intent",
    "charge",
    "refund",
    "dispute",
    "radar.early_fraud_warning",
    "event",
    "list",
}
# Values Stripe's examples carry that no real object for our cases would: sample errors and texts.
SAMPLE_VALUES = {
    "obj_123",
    "idempotency_error",
    "My First Invoice Item (created for API docs)",
    "My First Test Charge (created for API docs)",
    "Jenny Rosen",
    "example@example.com",
}
STRIPE_ID = re.compile(
    r"^[a-z]+_(tmp_)?[A-Za-z0-9]{14,}$"
)  # the examples' ids, e.g. "in_1Pgc6tB7WZ01zgkWu9fdqL6I"


def _shape_errors(node: Any, seen: set[str], path: str = "$") -> list[str]:
    """Every object (a dict with an `object` name) in `node` whose top-level keys are not exactly those
    of Stripe's example of it; `seen` collects the object names met."""
    errors: list[str] = []
    if isinstance(node, list):
        for index, child in enumerate(node):
            errors += _shape_errors(child, seen, f"{path}[{index}]")
    elif isinstance(node, dict):
        kind = node.get("object")
        if isinstance(kind, str):
            seen.add(kind)
            expected = LIST_KEYS if kind == "list" else set(resources()[kind])
            if set(node) != expected:
                extra, missing = sorted(set(node) - expected), sorted(expected - set(node))
                errors.append(f"{path} ({kind}): not in Stripe's: {extra}; missing: {missing}")
        for key, value in node.items():
            errors += _shape_errors(value, seen, f"{path}.{key}")
    return errors


def _made_up(example: Any, key: str) -> bool:
    if isinstance(example, bool):
        return False
    if isinstance(example, int):
        return example >= 1_000_000  # the examples' random amounts and sample timestamps
    return isinstance(example, str) and (
        example == key or example in SAMPLE_VALUES or bool(STRIPE_ID.match(example))
    )


def _placeholders(example: Any, produced: Any, path: str = "$", key: str = "") -> list[str]:
    """Where `produced` kept a made-up value of Stripe's `example` at the same place."""
    if isinstance(example, dict) and isinstance(produced, dict):
        return [
            hit
            for name in example.keys() & produced.keys()
            for hit in _placeholders(example[name], produced[name], f"{path}.{name}", name)
        ]
    if isinstance(example, list) and isinstance(produced, list):
        return [
            hit
            for index, (one, other) in enumerate(zip(example, produced, strict=False))
            for hit in _placeholders(one, other, f"{path}[{index}]", key)
        ]
    return [f"{path} = {produced!r}"] if _made_up(example, key) and produced == example else []


def _objects_in(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [found for child in node for found in _objects_in(child)]
    if not isinstance(node, dict):
        return []
    inner = [found for child in node.values() for found in _objects_in(child)]
    return [node, *inner] if isinstance(node.get("object"), str) and node["object"] != "list" else inner


async def _everything(stripe_api: StripeAPIDouble) -> list[dict[str, Any]]:
    """Drives every builder and endpoint of the double: what it served (raw JSON), handed out and stored."""
    stripe_api.clock = lambda: NOW
    stripe_api.add_price("price_pack", 499, "usd")
    stripe_api.add_price("price_pro", 1499, "usd", recurring_interval="month")
    payment = {
        "mode": "payment",
        "line_items": [{"price": "price_pack", "quantity": 1}],
        "payment_intent_data": {"metadata": {"account_id": "7"}},
        "customer_email": "alice@bot.test",
    }
    async with stripe_client(stripe_api) as client:
        sessions = client.v1.checkout.sessions
        bought = await sessions.create_async(payment)
        subscribed = await sessions.create_async(_subscription_checkout())
        await sessions.create_async(
            {"mode": "setup", "currency": "usd", "success_url": "https://bot.test/ok"}
        )
        paid = stripe_api.complete_session(bought.id)
        completed = stripe_api.complete_session(subscribed.id, customer="cus_7")
        subscription_id = completed["subscription"]
        first = stripe_api.pay_invoice(subscription_id)
        renewal = stripe_api.pay_invoice(subscription_id, billing_reason="subscription_cycle")
        stripe_api.add_invoice("in_manual", "cus_8", amount_paid=300)
        stripe_api.add_invoice(
            "in_open", "cus_7", amount_paid=1499, status="open", subscription_id=subscription_id
        )
        stripe_api.add_charge("ch_old", "cus_8", amount=300)
        charge_id = stripe_api.charge_of(paid["payment_intent"])
        refunded = stripe_api.refund(charge_id, 100)
        disputed = stripe_api.open_dispute(charge_id)
        lost = stripe_api.close_dispute(disputed["id"], "lost")
        warning = stripe_api.early_fraud_warning(charge_id)
        [invoice_payment] = [p for p in stripe_api.invoice_payments.values() if p["invoice"] == first["id"]]

        await sessions.retrieve_async(bought.id)
        await sessions.list_async()
        await client.v1.billing_portal.sessions.create_async({"customer": "cus_7"})
        await client.v1.subscriptions.update_async(subscription_id, {"cancel_at_period_end": True})
        await client.v1.subscriptions.retrieve_async(subscription_id)
        await client.v1.prices.list_async()
        await client.v1.prices.retrieve_async("price_pro")
        await client.v1.invoices.list_async()
        await client.v1.invoices.retrieve_async(renewal["id"])
        await client.v1.invoice_payments.list_async({"invoice": first["id"]})
        await client.v1.invoice_payments.retrieve_async(invoice_payment["id"])
        await client.v1.payment_intents.retrieve_async(paid["payment_intent"])
        await client.v1.charges.list_async()
        await client.v1.charges.retrieve_async(charge_id)

    served = [call.response for call in stripe_api.requests if call.status == 200]
    handed = [paid, completed, first, renewal, refunded, disputed, lost, warning]
    kinds = ["checkout.session.completed", "invoice.paid", "charge.refunded", "charge.dispute.closed"]
    events = [event(kind, obj) for kind, obj in zip(kinds, [paid, renewal, refunded, lost], strict=True)]
    stores = (
        stripe_api.prices,
        stripe_api.checkout_sessions,
        stripe_api.portal_sessions,
        stripe_api.subscriptions,
        stripe_api.invoices,
        stripe_api.invoice_payments,
        stripe_api.payment_intents,
        stripe_api.charges,
        stripe_api.refunds,
        stripe_api.disputes,
    )
    return [*served, *handed, *events, *(obj for store in stores for obj in store.values())]


async def test_every_object_has_exactly_the_fields_of_stripes_own(stripe_api: StripeAPIDouble) -> None:
    produced = await _everything(stripe_api)
    seen: set[str] = set()

    assert [error for obj in produced for error in _shape_errors(obj, seen)] == []
    assert seen == EVERY_KIND
    for envelope in (obj for obj in produced if obj["object"] == "event"):
        assert set(envelope["data"]) == set(resources()["event"]["data"])


async def test_no_made_up_value_of_stripes_examples_is_left(stripe_api: StripeAPIDouble) -> None:
    produced = [found for obj in await _everything(stripe_api) for found in _objects_in(obj)]

    kept = [hit for obj in produced for hit in _placeholders(resources()[obj["object"]], obj, obj["object"])]
    assert kept == []


def test_a_field_stripe_no_longer_sends_is_caught() -> None:
    double = StripeAPIDouble(clock=lambda: NOW)
    double.add_price("price_pro", 1499, "usd", recurring_interval="month")
    double.add_subscription("sub_1", "cus_7", "price_pro")
    invoice = double.pay_invoice("sub_1")

    assert _shape_errors({**invoice, "payment_intent": "pi_1"}, set()) != []
    with pytest.raises(KeyError, match="payment_intent"):
        stripe_objects.build("invoice", {"payment_intent": "pi_1"})
    with pytest.raises(KeyError, match="charge"):
        double.add_invoice("in_2", "cus_7", amount_paid=1499, charge="ch_1")


def test_missing_fixtures_say_where_they_were_expected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(stripe_fixtures, "FIXTURES", tmp_path / "stripe-fixtures3.json")
    stripe_fixtures.resources.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match=r"shared/specs"):
            stripe_fixtures.resources()
    finally:
        monkeypatch.undo()
        stripe_fixtures.resources.cache_clear()


def test_a_renewal_invoice_bills_the_next_period_and_is_paid_by_an_invoice_payment() -> None:
    double = StripeAPIDouble(clock=lambda: NOW)
    price = double.add_price("price_pro", 1499, "usd", recurring_interval="month")
    subscription = double.add_subscription("sub_1", "cus_7", "price_pro", metadata={"account_id": "7"})
    item = subscription["items"]["data"][0]

    first = double.pay_invoice("sub_1", invoice_id="in_first")
    double.clock = lambda: NOW + MONTH
    renewal = double.pay_invoice("sub_1", billing_reason="subscription_cycle")

    assert price["unit_amount_decimal"] == "1499"
    assert (first["billing_reason"], first["period_start"], first["period_end"]) == (
        "subscription_create",
        NOW,
        NOW,
    )
    assert first["lines"]["data"][0]["period"] == {"start": NOW, "end": NOW + MONTH}
    assert (renewal["billing_reason"], renewal["period_start"], renewal["period_end"]) == (
        "subscription_cycle",
        NOW,
        NOW + MONTH,
    ), "a renewal's own period is the one that just ended"
    [line] = renewal["lines"]["data"]
    assert line["period"] == {"start": NOW + MONTH, "end": NOW + 2 * MONTH}, "its line: the period paid for"
    assert (item["current_period_start"], item["current_period_end"]) == (NOW + MONTH, NOW + 2 * MONTH)
    assert (line["amount"], line["currency"], line["invoice"]) == (1499, "usd", renewal["id"])
    assert line["pricing"] == {
        "type": "price_details",
        "price_details": {"price": "price_pro", "product": "prod_price_pro"},
        "unit_amount_decimal": "1499",
    }
    assert line["parent"] == {
        "type": "subscription_item_details",
        "subscription_item_details": {
            "subscription": "sub_1",
            "subscription_item": item["id"],
            "invoice_item": None,
            "proration": False,
            "proration_details": {"credited_items": None},
        },
        "invoice_item_details": None,
    }
    assert renewal["parent"] == {
        "type": "subscription_details",
        "subscription_details": {"subscription": "sub_1", "metadata": {"account_id": "7"}},
        "quote_details": None,
    }
    assert renewal["subscription"] is None, "the current API names it only under parent"
    assert "payment_intent" not in renewal
    assert "charge" not in renewal
    assert (renewal["status"], renewal["amount_due"], renewal["amount_paid"], renewal["total"]) == (
        "paid",
        1499,
        1499,
        1499,
    )
    assert (renewal["amount_remaining"], renewal["last_finalization_error"], renewal["from_invoice"]) == (
        0,
        None,
        None,
    )
    assert renewal["hosted_invoice_url"] == f"https://invoice.stripe.test/i/{renewal['id']}"
    assert double.subscriptions["sub_1"]["latest_invoice"] == renewal["id"]
    assert double.invoices[renewal["id"]] == renewal

    payments = {p["invoice"]: p for p in double.invoice_payments.values()}
    assert set(payments) == {"in_first", renewal["id"]}
    paid = payments[renewal["id"]]
    assert (paid["status"], paid["amount_paid"], paid["is_default"], paid["currency"]) == (
        "paid",
        1499,
        True,
        "usd",
    )
    assert paid["payment"]["type"] == "payment_intent"
    intent = double.payment_intents[paid["payment"]["payment_intent"]]
    assert (intent["status"], intent["amount"], intent["customer"]) == ("succeeded", 1499, "cus_7")
    charge = double.charges[double.charge_of(intent["id"])]
    assert (charge["payment_intent"], charge["status"], charge["amount"], charge["paid"]) == (
        intent["id"],
        "succeeded",
        1499,
        True,
    )


async def test_a_paid_checkout_has_a_payment_intent_and_a_charge(stripe_api: StripeAPIDouble) -> None:
    stripe_api.add_price("price_pack", 499, "usd")
    pack = {
        "mode": "payment",
        "line_items": [{"price": "price_pack", "quantity": 1}],
        "payment_intent_data": {"metadata": {"account_id": "7"}},
        "customer_email": "alice@bot.test",
    }
    async with stripe_client(stripe_api) as client:
        paid_now = await client.v1.checkout.sessions.create_async(pack)
        paid_later = await client.v1.checkout.sessions.create_async(pack)

    completed = stripe_api.complete_session(paid_now.id)
    pending = stripe_api.complete_session(paid_later.id, payment_status="unpaid")

    intent = stripe_api.payment_intents[completed["payment_intent"]]
    assert (intent["status"], intent["amount_received"], intent["currency"], intent["metadata"]) == (
        "succeeded",
        499,
        "usd",
        {"account_id": "7"},
    )
    assert intent["customer"] == completed["customer"]
    charge = stripe_api.charges[intent["latest_charge"]]
    assert (charge["payment_intent"], charge["status"], charge["captured"], charge["metadata"]) == (
        intent["id"],
        "succeeded",
        True,
        {"account_id": "7"},
    )
    assert completed["customer_details"]["email"] == "alice@bot.test"
    slow = stripe_api.payment_intents[pending["payment_intent"]]
    assert (slow["status"], stripe_api.charges[slow["latest_charge"]]["status"]) == ("processing", "pending")


def test_refunds_disputes_and_fraud_warnings_follow_the_charge() -> None:
    double = StripeAPIDouble(clock=lambda: NOW)
    double.add_price("price_pro", 1499, "usd", recurring_interval="month")
    double.add_subscription("sub_1", "cus_7", "price_pro")
    double.pay_invoice("sub_1")
    [intent_id] = double.payment_intents
    charge_id = double.charge_of(intent_id)

    fresh = double.early_fraud_warning(charge_id)
    partly = double.refund(charge_id, 500)
    fully = double.refund(charge_id)
    with pytest.raises(ValueError, match="0 left"):
        double.refund(charge_id)
    dispute = double.open_dispute(charge_id)
    disputed_charge = copy.deepcopy(double.charges[charge_id])
    won = double.close_dispute(dispute["id"], "won")
    with pytest.raises(ValueError, match="won or lost"):
        double.close_dispute(dispute["id"], "under_review")
    late = double.early_fraud_warning(charge_id, "card_never_received")

    assert (partly["amount_refunded"], partly["refunded"]) == (500, False)
    assert (fully["amount_refunded"], fully["refunded"]) == (1499, True)
    assert [refund["amount"] for refund in fully["refunds"]["data"]] == [999, 500]  # newest first
    assert fully["refunds"]["url"] == f"/v1/charges/{charge_id}/refunds"
    assert {(r["charge"], r["payment_intent"], r["status"]) for r in double.refunds.values()} == {
        (charge_id, intent_id, "succeeded")
    }
    assert (dispute["charge"], dispute["payment_intent"], dispute["amount"], dispute["currency"]) == (
        charge_id,
        intent_id,
        1499,
        "usd",
    )
    assert (dispute["status"], dispute["reason"]) == ("needs_response", "fraudulent")
    assert disputed_charge["disputed"] is True
    assert won["status"] == "won"
    assert double.disputes[dispute["id"]] == won
    assert (fresh["charge"], fresh["fraud_type"], fresh["actionable"]) == (
        charge_id,
        "made_with_stolen_card",
        True,
    )
    assert (late["fraud_type"], late["actionable"]) == ("card_never_received", False)


def test_an_event_envelope_is_stripes() -> None:
    obj = {"id": "in_1", "object": "invoice"}
    envelope = event("invoice.paid", obj, event_id="evt_1", created=NOW)
    obj["id"] = "in_2"

    assert envelope == {
        "id": "evt_1",
        "object": "event",
        "api_version": stripe.api_version,
        "created": NOW,
        "data": {"object": {"id": "in_1", "object": "invoice"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "invoice.paid",
    }


async def test_prices_through_the_sdk(stripe_api: StripeAPIDouble) -> None:
    stripe_api.add_price("price_pack", 499, "usd")
    stripe_api.add_price("price_pro", 1499, "usd", recurring_interval="month")
    stripe_api.add_price("price_old", 999, "usd", recurring_interval="month")["active"] = False
    async with stripe_client(stripe_api) as client:
        pro = await client.v1.prices.retrieve_async("price_pro")
        recurring = await client.v1.prices.list_async({"active": True, "type": "recurring"})
        inactive = await client.v1.prices.list_async({"active": False})
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await client.v1.prices.retrieve_async("price_nope")

    assert (pro.unit_amount, pro.currency, pro.type, pro.recurring.interval) == (
        1499,
        "usd",
        "recurring",
        "month",
    )
    assert stripe_api.of("GET", "/v1/prices/price_pro")[0].response["unit_amount_decimal"] == "1499"
    assert [price.id for price in recurring.data] == ["price_pro"]
    assert stripe_api.of("GET", "/v1/prices")[0].params == {"active": "true", "type": "recurring"}
    assert [price.id for price in inactive.data] == ["price_old"]
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


async def test_invoice_payments_intents_and_charges_through_the_sdk(stripe_api: StripeAPIDouble) -> None:
    stripe_api.add_price("price_pro", 1499, "usd", recurring_interval="month")
    stripe_api.add_subscription("sub_1", "cus_7", "price_pro")
    invoice = stripe_api.pay_invoice("sub_1")
    stripe_api.pay_invoice("sub_1", billing_reason="subscription_cycle")
    [payment] = [p for p in stripe_api.invoice_payments.values() if p["invoice"] == invoice["id"]]
    intent_id = payment["payment"]["payment_intent"]
    async with stripe_client(stripe_api) as client:
        payments = client.v1.invoice_payments
        by_invoice = await payments.list_async({"invoice": invoice["id"]})
        by_intent = await payments.list_async(
            {"payment": {"type": "payment_intent", "payment_intent": intent_id}}
        )
        open_ones = await payments.list_async({"invoice": invoice["id"], "status": "open"})
        fetched = await payments.retrieve_async(payment["id"])
        with pytest.raises(stripe.InvalidRequestError) as unfiltered:
            await payments.list_async()
        fetched_invoice = await client.v1.invoices.retrieve_async(invoice["id"])
        intent = await client.v1.payment_intents.retrieve_async(intent_id)
        charge = await client.v1.charges.retrieve_async(intent.latest_charge)
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await client.v1.charges.retrieve_async("ch_nope")

    assert [row.id for row in by_invoice.data] == [payment["id"]]
    assert by_invoice.url == "/v1/invoice_payments"
    assert [row.id for row in by_intent.data] == [payment["id"]]
    assert stripe_api.of("GET", "/v1/invoice_payments")[1].params == {
        "payment": {"type": "payment_intent", "payment_intent": intent_id}
    }
    assert open_ones.data == []
    assert fetched.payment.payment_intent == intent_id
    assert (unfiltered.value.http_status, unfiltered.value.code) == (400, "parameter_missing")
    assert fetched_invoice.id == invoice["id"]
    assert stripe_api.of("GET", f"/v1/invoices/{invoice['id']}")[0].response == invoice
    assert (intent.status, intent.amount) == ("succeeded", 1499)
    assert (charge.payment_intent, charge.amount, charge.status) == (intent_id, 1499, "succeeded")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


async def test_checkout_takes_allow_promotion_codes_as_a_boolean_and_never_with_discounts(
    stripe_api: StripeAPIDouble,
) -> None:
    price = stripe_api.add_price("price_promo", 999, "usd")
    base = {
        "mode": "payment",
        "line_items": [{"price": price["id"], "quantity": 1}],
        "success_url": "https://example.test/ok",
    }
    async with stripe_client(stripe_api) as client:
        created = await client.v1.checkout.sessions.create_async({**base, "allow_promotion_codes": True})
        plain = await client.v1.checkout.sessions.create_async(base)
        with pytest.raises(stripe.InvalidRequestError):
            await client.v1.checkout.sessions.create_async(
                {**base, "allow_promotion_codes": True, "discounts": [{"coupon": "c_1"}]}
            )
    assert created.to_dict()["allow_promotion_codes"] is True
    assert plain.to_dict()["allow_promotion_codes"] is None
