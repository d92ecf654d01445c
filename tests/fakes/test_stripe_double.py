"""The real stripe SDK (StripeClient + AIOHTTPClient) against the local Stripe double, over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_api import (
    StripeAPIDouble,
    event,
    parse_form,
    sign_webhook,
    stripe_api_fixture,  # noqa: F401  (the `stripe_api` fixture)
    stripe_client,
)

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
