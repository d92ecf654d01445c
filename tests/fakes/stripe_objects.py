"""Stripe objects for the Stripe double, each built from Stripe's own example of that object.

`build` starts from the example (`stripe_fixtures.template`) and fills in the given values; every
field the example carries a made-up value in (ids such as "obj_123", names such as "invoice" or
"quote", random amounts, sample errors) is set here to what Stripe sends for the case, or to a neutral
value (None, {}, [], False, 0). A value for a field the example lacks is refused, so the double cannot
invent fields the current API no longer sends (e.g. an invoice's `payment_intent`).
"""

from __future__ import annotations

import secrets
from typing import Any

import stripe

from tests.fakes.stripe_fixtures import template

StripeObj = dict[str, Any]
Params = dict[str, Any]

DAY_S = 24 * 3600
INTERVAL_S = {"day": DAY_S, "week": 7 * DAY_S, "month": 30 * DAY_S, "year": 365 * DAY_S}
DISPUTE_RESPONSE_S = 14 * DAY_S  # how long a merchant has to answer a dispute (`evidence_details.due_by`)
PORTAL_CONFIGURATION = "bpc_double_default"

_NO_ADDRESS = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def build(name: str, values: StripeObj) -> StripeObj:
    """Stripe's example `name` object with `values` filled in."""
    obj = template(name)
    unknown = set(values) - set(obj)
    if unknown:
        raise KeyError(f"Stripe's {name} object has no field {sorted(unknown)} (stripe-fixtures3.json)")
    obj.update(values)
    return obj


def list_of(url: str, data: list[StripeObj], *, has_more: bool = False) -> StripeObj:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def interval_s(price: StripeObj) -> int:
    """One billing period of a recurring price, in seconds (a month counts 30 days)."""
    recurring = price["recurring"]
    return INTERVAL_S[recurring["interval"]] * int(recurring["interval_count"])


# --- catalogue and Checkout ----------------------------------------------------------------------------


def price(price_id: str, unit_amount: int, currency: str, interval: str | None, *, created: int) -> StripeObj:
    example = template("price")
    return build(
        "price",
        {
            "id": price_id,
            "created": created,
            "currency": currency,
            "custom_unit_amount": None,
            "product": f"prod_{price_id}",
            "recurring": {**example["recurring"], "interval": interval, "interval_count": 1}
            if interval
            else None,
            "transform_quantity": None,
            "type": "recurring" if interval else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),  # a string on the wire, as Stripe sends it
        },
    )


def plan(of_price: StripeObj) -> StripeObj:
    """The legacy Plan that Stripe still mirrors a recurring Price into (same id) on subscription items."""
    return build(
        "plan",
        {
            "id": of_price["id"],
            "amount": of_price["unit_amount"],
            "amount_decimal": of_price["unit_amount_decimal"],
            "created": of_price["created"],
            "currency": of_price["currency"],
            "interval": of_price["recurring"]["interval"],
            "interval_count": of_price["recurring"]["interval_count"],
            "product": of_price["product"],
            "transform_usage": None,
        },
    )


def checkout_session(
    session_id: str,
    params: Params,
    *,
    prices: list[StripeObj],
    amount: int,
    created: int,
    expires_at: int,
    setup_intent: str | None,
) -> StripeObj:
    """An open session as `POST /v1/checkout/sessions` answers it, from the request's params."""
    mode = params["mode"]
    customer = params.get("customer")
    invoice_data = {
        "account_tax_ids": None,
        "custom_fields": None,
        "description": None,
        "footer": None,
        "issuer": None,
        "metadata": {},
        "rendering_options": None,
    }
    return build(
        "checkout.session",
        {
            "id": session_id,
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "mode": mode,
            "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "amount_subtotal": amount if prices else None,
            "amount_total": amount if prices else None,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
            if prices
            else None,
            "currency": prices[0]["currency"] if prices else params.get("currency"),
            "customer": customer,
            "customer_creation": None
            if customer
            else ("always" if mode == "subscription" else "if_required"),
            "customer_email": params.get("customer_email"),
            "customer_details": None,  # filled in when the customer completes the session
            "collected_information": None,
            "locale": params.get("locale"),
            "payment_intent": None,
            "setup_intent": setup_intent,
            "subscription": None,
            "invoice_creation": {"enabled": False, "invoice_data": invoice_data}
            if mode == "payment"
            else None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "expires_at": expires_at,
            "created": created,
            "after_expiration": None,
            "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
            "consent_collection": None,
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "payment_method_collection": "always",
            "payment_method_configuration_details": None,
            "saved_payment_method_options": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "ui_mode": "hosted",
            "adaptive_pricing": {"enabled": False},
            "discounts": [],
            # null unless the request set it: the published example's shape
            "allow_promotion_codes": params.get("allow_promotion_codes") == "true"
            if "allow_promotion_codes" in params
            else None,
            "permissions": None,
            "wallet_options": None,
            "currency_conversion": None,
            "managed_payments": {"enabled": False},
        },
    )


def completion(email: str | None) -> StripeObj:
    """What a session learns when its customer completes it: `customer_details`, `collected_information`."""
    details = {
        "address": dict(_NO_ADDRESS),
        "email": email,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
        "business_name": None,
        "individual_name": None,
    }
    collected = {"shipping_details": None, "business_name": None, "individual_name": None}
    return {"customer_details": details, "collected_information": collected}


def portal_session(portal_id: str, customer: str, return_url: str | None, *, created: int) -> StripeObj:
    return build(
        "billing_portal.session",
        {
            "id": portal_id,
            "configuration": PORTAL_CONFIGURATION,
            "created": created,
            "customer": customer,
            "flow": None,
            "livemode": False,
            "return_url": return_url,
            "url": f"https://billing.stripe.test/p/session/{portal_id}",
        },
    )


# --- subscriptions and invoices ------------------------------------------------------------------------


def subscription_item(
    item_id: str, subscription_id: str, item_price: StripeObj, *, period: tuple[int, int], created: int
) -> StripeObj:
    """Since API 2025-03-31 the billing period lives here, not on the subscription."""
    return build(
        "subscription_item",
        {
            "id": item_id,
            "created": created,
            "price": item_price,
            "plan": plan(item_price),
            "quantity": 1,
            "subscription": subscription_id,
            "current_period_start": period[0],
            "current_period_end": period[1],
            "billing_thresholds": None,
        },
    )


def subscription(
    subscription_id: str,
    customer: str,
    item: StripeObj,
    *,
    status: str,
    metadata: dict[str, str],
    created: int,
) -> StripeObj:
    return build(
        "subscription",
        {
            "id": subscription_id,
            "customer": customer,
            "status": status,
            "currency": item["price"]["currency"],
            "items": list_of(f"/v1/subscription_items?subscription={subscription_id}", [item]),
            "metadata": metadata,
            "created": created,
            "start_date": created,
            "billing_cycle_anchor": created,
            "billing_cycle_anchor_config": None,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
            "next_pending_invoice_item_invoice": None,
            "pause_collection": None,
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": None,
            "pending_update": None,
            "transfer_data": None,
            "trial_start": None,
            "trial_end": None,
            "billing_thresholds": None,
            "billing_mode": {"type": "classic", "flexible": None},
            "managed_payments": {"enabled": False},
            "billing_schedules": [],
        },
    )


def subscription_line(
    line_id: str,
    invoice_id: str,
    item: StripeObj,
    *,
    amount: int,
    period: tuple[int, int],
) -> StripeObj:
    """A subscription item's line on an invoice: `period` is the period it pays for."""
    item_price = item["price"]
    item_details = {
        "subscription": item["subscription"],
        "subscription_item": item["id"],
        "invoice_item": None,
        "proration": False,
        "proration_details": {"credited_items": None},
    }
    return _line(
        line_id,
        invoice_id,
        amount=amount,
        currency=item_price["currency"],
        period=period,
        subscription_id=item["subscription"],
        price_ids=(item_price["id"], item_price["product"]),
        unit_amount_decimal=item_price["unit_amount_decimal"],
        parent={
            "type": "subscription_item_details",
            "subscription_item_details": item_details,
            "invoice_item_details": None,
        },
    )


def invoice_item_line(
    line_id: str,
    invoice_id: str,
    invoice_item_id: str,
    *,
    amount: int,
    currency: str,
    period: tuple[int, int],
    price_ids: tuple[str, str],
    subscription_id: str | None,
) -> StripeObj:
    """A one-off invoice item's line; Stripe prices it with an inline Price (`price_ids`: price, product)."""
    item_details = {
        "invoice_item": invoice_item_id,
        "proration": False,
        "proration_details": {"credited_items": None},
        "subscription": subscription_id,
    }
    return _line(
        line_id,
        invoice_id,
        amount=amount,
        currency=currency,
        period=period,
        subscription_id=subscription_id,
        price_ids=price_ids,
        unit_amount_decimal=str(amount),
        parent={
            "type": "invoice_item_details",
            "invoice_item_details": item_details,
            "subscription_item_details": None,
        },
    )


def _line(
    line_id: str,
    invoice_id: str,
    *,
    amount: int,
    currency: str,
    period: tuple[int, int],
    subscription_id: str | None,
    price_ids: tuple[str, str],
    unit_amount_decimal: str,
    parent: StripeObj,
) -> StripeObj:
    return build(
        "line_item",
        {
            "id": line_id,
            "invoice": invoice_id,
            "amount": amount,
            "subtotal": amount,
            "currency": currency,
            "description": None,
            "period": {"start": period[0], "end": period[1]},
            "quantity": 1,
            "subscription": subscription_id,
            "pretax_credit_amounts": [],
            "taxes": [],
            "parent": parent,
            "pricing": {
                "type": "price_details",
                "price_details": {"price": price_ids[0], "product": price_ids[1]},
                "unit_amount_decimal": unit_amount_decimal,
            },
        },
    )


def invoice(
    invoice_id: str,
    customer: str,
    *,
    amount: int,
    currency: str,
    status: str,
    created: int,
    number: str,
    billing_reason: str,
    period: tuple[int, int],
    lines: list[StripeObj],
    subscription: tuple[str, dict[str, str]] | None,
    extra: StripeObj,
) -> StripeObj:
    """Since API 2025-03-31 an invoice names its subscription only under `parent.subscription_details`
    (the example still carries a top-level `subscription`, always null), and has no `payment_intent` or
    `charge`: its payments are InvoicePayment objects. `period` is (period_start, period_end);
    `subscription` is (id, metadata)."""
    paid = status == "paid"
    parent = None
    if subscription is not None:
        details = {"subscription": subscription[0], "metadata": dict(subscription[1])}
        parent = {"type": "subscription_details", "subscription_details": details, "quote_details": None}
    values = {
        "id": invoice_id,
        "customer": customer,
        "status": status,
        "billing_reason": billing_reason,
        "number": number,
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "amount_overpaid": 0,
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "total": amount,
        "total_excluding_tax": amount,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "currency": currency,
        "parent": parent,
        "subscription": None,
        "lines": list_of(f"/v1/invoices/{invoice_id}/lines", lines),
        "period_start": period[0],
        "period_end": period[1],
        "created": created,
        "effective_at": created,
        "webhooks_delivered_at": created,
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": created if paid else None,
            "voided_at": None,
        },
        "attempt_count": 1 if paid else 0,
        "attempted": paid,
        "auto_advance": status == "open",
        "ending_balance": 0,
        "hosted_invoice_url": f"https://invoice.stripe.test/i/{invoice_id}",
        "invoice_pdf": f"https://invoice.stripe.test/i/{invoice_id}/pdf",
        "automatic_tax": {
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        "customer_address": None,
        "customer_shipping": None,
        "due_date": None,
        "from_invoice": None,
        "last_finalization_error": None,
        "next_payment_attempt": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
    }
    return build("invoice", {**values, **extra})


def invoice_payment(
    payment_id: str, invoice_id: str, payment_intent: str, *, amount: int, currency: str, created: int
) -> StripeObj:
    """The default (and only) payment of a paid invoice."""
    return build(
        "invoice_payment",
        {
            "id": payment_id,
            "invoice": invoice_id,
            "amount_paid": amount,
            "amount_requested": amount,
            "currency": currency,
            "created": created,
            "is_default": True,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": payment_intent},
            "status": "paid",
            "status_transitions": {"canceled_at": None, "paid_at": created},
        },
    )


# --- money movements -----------------------------------------------------------------------------------


def payment_intent(
    intent_id: str,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    status: str,
    latest_charge: str,
    payment_method: str,
    metadata: dict[str, str],
    created: int,
) -> StripeObj:
    return build(
        "payment_intent",
        {
            "id": intent_id,
            "amount": amount,
            "amount_received": amount if status == "succeeded" else 0,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "created": created,
            "currency": currency,
            "customer": customer,
            "last_payment_error": None,
            "latest_charge": latest_charge,
            "metadata": metadata,
            "next_action": None,
            "payment_method": payment_method,
            "payment_method_configuration_details": None,
            "processing": {"type": "card"} if status == "processing" else None,
            "shipping": None,
            "status": status,
            "transfer_data": None,
            "managed_payments": {"enabled": False},
        },
    )


def charge(
    charge_id: str,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    status: str,
    payment_intent: str | None,
    payment_method: str,
    balance_transaction: str | None,
    created: int,
    extra: StripeObj,
) -> StripeObj:
    """A card charge; `status` "succeeded", "pending" or "failed"."""
    succeeded = status == "succeeded"
    example = template("charge")
    card = example["payment_method_details"]["card"]
    card.update(amount_authorized=amount, installments=None, wallet=None)
    card["overcapture"]["maximum_amount_capturable"] = amount
    values = {
        "id": charge_id,
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0,
        "refunded": False,
        "captured": succeeded,
        "paid": succeeded,
        "status": status,
        "currency": currency,
        "customer": customer,
        "payment_intent": payment_intent,
        "payment_method": payment_method,
        "payment_method_details": example["payment_method_details"],
        "balance_transaction": balance_transaction,
        "billing_details": {**example["billing_details"], "name": None},
        "description": None,
        "outcome": {
            **example["outcome"],
            "network_status": "approved_by_network" if status != "failed" else "declined_by_network",
            "seller_message": "Payment complete." if succeeded else None,
            "type": "authorized" if status != "failed" else "issuer_declined",
        },
        "receipt_url": f"https://pay.stripe.test/receipts/{charge_id}",
        "refunds": list_of(f"/v1/charges/{charge_id}/refunds", []),
        "shipping": None,
        "transfer_data": None,
        "source": None,
        "created": created,
    }
    return build("charge", {**values, **extra})


def refund(
    refund_id: str, of_charge: StripeObj, *, amount: int, balance_transaction: str, created: int
) -> StripeObj:
    return build(
        "refund",
        {
            "id": refund_id,
            "amount": amount,
            "balance_transaction": balance_transaction,
            "charge": of_charge["id"],
            "created": created,
            "currency": of_charge["currency"],
            "customer": of_charge["customer"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "payment_intent": of_charge["payment_intent"],
            "payment_method": of_charge["payment_method"],
            "status": "succeeded",
        },
    )


def dispute(dispute_id: str, of_charge: StripeObj, *, status: str, reason: str, created: int) -> StripeObj:
    """A card dispute: an inquiry while its status is "warning_*", else a chargeback."""
    inquiry = status.startswith("warning_")
    example = template("dispute")
    return build(
        "dispute",
        {
            "id": dispute_id,
            "amount": of_charge["amount"],
            "charge": of_charge["id"],
            "payment_intent": of_charge["payment_intent"],
            "currency": of_charge["currency"],
            "created": created,
            "reason": reason,
            "status": status,
            "is_charge_refundable": inquiry,  # a chargeback has already taken the money back
            "evidence_details": {**example["evidence_details"], "due_by": created + DISPUTE_RESPONSE_S},
            "payment_method_details": {
                "card": {
                    "brand": "visa",
                    "case_type": "inquiry" if inquiry else "chargeback",
                    "network_reason_code": "10.4" if reason == "fraudulent" else None,
                    "network": "visa",
                },
                "type": "card",
            },
            "enhanced_eligibility_types": [],
        },
    )


def early_fraud_warning(warning_id: str, of_charge: StripeObj, *, fraud_type: str, created: int) -> StripeObj:
    """Stripe's example carries no `payment_intent` (the API reference lists one): the example wins."""
    return build(
        "radar.early_fraud_warning",
        {
            "id": warning_id,
            "actionable": not (of_charge["refunded"] or of_charge["disputed"]),
            "charge": of_charge["id"],
            "created": created,
            "fraud_type": fraud_type,
        },
    )


def event(type_: str, obj: StripeObj, *, event_id: str, created: int) -> StripeObj:
    """A snapshot event envelope; `data` holds only `object` (Stripe's example has no
    `previous_attributes` there: it comes only with `*.updated` events)."""
    return build(
        "event",
        {
            "id": event_id,
            "api_version": stripe.api_version,
            "created": created,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "type": type_,
        },
    )
