"""Stripe, through its official SDK (async client): checkout, billing portal, subscriptions, lists,
and webhook verification. Nothing else in the bot speaks to Stripe."""

from __future__ import annotations

from typing import Any

import stripe

from core.bounded_json import bounded_json
from core.payments.catalogue import Pack, Plan
from core.payments.webhook_errors import InvalidWebhook

SIGNATURE_TOLERANCE_S = 300
CHECKOUT_EXPIRES_S = 60 * 60


class StripeGateway:
    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        max_network_retries: int = 2,
        allow_promotion_codes: bool = False,
    ) -> None:
        self._allow_promotion_codes = allow_promotion_codes  # a field on Checkout for Stripe's own codes
        self._http = stripe.AIOHTTPClient()
        addresses: Any = {"api": api_base.rstrip("/")} if api_base else None
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=addresses,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )
        self._webhook_secret = webhook_secret

    async def close(self) -> None:
        await self._http.close_async()

    def verify(self, payload: bytes, signature: str) -> dict[str, Any]:
        """The event exactly as Stripe sent it, when `signature` is Stripe's for `payload` and recent;
        else InvalidWebhook. Parsed as plain JSON, not into SDK objects: those turn decimal strings such
        as `unit_amount_decimal` into `Decimal`, which no JSON column can store."""
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, tolerance=SIGNATURE_TOLERANCE_S
            )
            data = bounded_json(payload)
        except (stripe.SignatureVerificationError, ValueError, TypeError) as error:
            # TypeError: a non-ASCII signature; ValueError: not JSON, or nested beyond reason
            signed = not isinstance(error, stripe.SignatureVerificationError | TypeError)
            raise InvalidWebhook(
                type(error).__name__, "malformed" if signed else "invalid_signature"
            ) from None
        if not (
            isinstance(data, dict)
            and isinstance(data.get("id"), str)
            and isinstance(data.get("type"), str)
            and isinstance(data.get("created"), int)
            and isinstance(data.get("data"), dict)
            and isinstance(data["data"].get("object"), dict)
        ):
            raise InvalidWebhook("not an event", "malformed")
        return data

    async def create_checkout(
        self,
        item: Pack | Plan,
        *,
        account_ref: str,
        metadata: dict[str, str],
        success_url: str,
        cancel_url: str,
        now: int,
        idempotency_key: str,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "mode": "subscription" if isinstance(item, Plan) else "payment",
            "client_reference_id": account_ref,
            "metadata": metadata,
            "line_items": [_line_item(item)],
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if self._allow_promotion_codes:
            params["allow_promotion_codes"] = True
        if isinstance(item, Plan):
            params["subscription_data"] = {"metadata": metadata}  # Stripe does not copy it over
        else:
            params["expires_at"] = now + CHECKOUT_EXPIRES_S
            params["payment_intent_data"] = {"metadata": metadata}
        session = await self._client.v1.checkout.sessions.create_async(
            params, {"idempotency_key": idempotency_key}
        )
        return session.to_dict()

    async def portal(self, customer: str, return_url: str) -> str:
        session = await self._client.v1.billing_portal.sessions.create_async(
            {"customer": customer, "return_url": return_url}
        )
        return str(session.url)

    async def cancel_at_period_end(self, subscription_id: str) -> dict[str, Any]:
        updated = await self._client.v1.subscriptions.update_async(
            subscription_id, {"cancel_at_period_end": True}
        )
        return updated.to_dict()

    async def completed_sessions(self, since: int) -> list[dict[str, Any]]:
        """Checkout Sessions completed since `since` (a Unix time), all pages."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"status": "complete", "created": {"gte": since}, "limit": 100}
        while True:
            page = await self._client.v1.checkout.sessions.list_async(params)
            found.extend(session.to_dict() for session in page.data)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id

    async def invoice_payment_intent(self, invoice_id: str) -> str | None:
        """The PaymentIntent that paid an invoice. Since API 2025-03-31 an invoice names no payment
        itself: its payments are InvoicePayment objects."""
        page = await self._client.v1.invoice_payments.list_async({"invoice": invoice_id, "limit": 10})
        paid = [row.to_dict() for row in page.data if row.status == "paid"]
        paid.sort(key=lambda row: not row.get("is_default"))
        for row in paid:
            payment = row.get("payment") or {}
            if payment.get("payment_intent"):
                return str(payment["payment_intent"])
        return None

    async def charge_payment_intent(self, charge_id: str) -> str | None:
        """The PaymentIntent behind a charge (disputes and fraud warnings may name only the charge)."""
        charge = await self._client.v1.charges.retrieve_async(charge_id)
        intent = charge.to_dict().get("payment_intent")
        return str(intent) if intent else None

    async def price(self, price_id: str) -> tuple[int, str] | None:
        """A Price's amount in minor units and its currency; None for a price with no fixed amount."""
        price = await self._client.v1.prices.retrieve_async(price_id)
        if price.unit_amount is None:
            return None
        return int(price.unit_amount), str(price.currency)


def _line_item(item: Pack | Plan) -> dict[str, Any]:
    if item.price_id:
        return {"price": item.price_id, "quantity": 1}
    assert item.amount is not None  # the catalogue checks this
    price: dict[str, Any] = {
        "currency": item.currency,
        "unit_amount": item.amount,
        "product_data": {"name": item.name},
    }
    if isinstance(item, Plan):
        price["recurring"] = {"interval": item.interval}
    return {"price_data": price, "quantity": 1}
