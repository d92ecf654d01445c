"""A local double of the Stripe API: the real `stripe` SDK (AIOHTTPClient) talks to it over 127.0.0.1.

It speaks Stripe's wire format: form-encoded bodies and query strings with bracket keys (parsed into
nested dicts and lists; values stay strings, as on the wire), JSON answers, Stripe-shaped errors, and
idempotent replays of a POST that repeats an `Idempotency-Key`. Every object it answers with or hands a
test for a webhook is built from Stripe's own example of that object (`stripe_objects`). It keeps
prices, Checkout Sessions, billing portal sessions, subscriptions, invoices and their payments,
PaymentIntents, charges, refunds and disputes in memory, records every request and can be told to fail
the next requests under a path. `sign_webhook` and `event` build webhook deliveries that
`stripe.Webhook.construct_event` accepts.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import operator
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest_asyncio
import stripe
from aiohttp import web

from tests.fakes import stripe_objects as objects

API_KEY = "sk_test_double"
CHECKOUT_LIFETIME_S = 24 * 3600
DEFAULT_LIST_LIMIT = 10
INVOICE_NUMBER_PREFIX = "DB1E0C4A"  # Stripe numbers invoices "<8 characters>-<sequence>"

Params = dict[str, Any]
StripeObj = dict[str, Any]
Handler = Callable[[Params, str], StripeObj]  # (parsed params, the path's {id} or "") -> object to answer

_CREATED_OPS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class StripeError(Exception):
    """An error answer shaped like Stripe's: {"error": {"type", "code", "message", "param"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        error = {
            "type": error_type or ("api_error" if status >= 500 else "invalid_request_error"),
            "code": code,
            "message": message,
            "param": param,
        }
        self.body = {"error": {key: value for key, value in error.items() if value is not None}}


@dataclass
class RecordedRequest:
    method: str  # "GET" | "POST" | ...
    path: str  # e.g. "/v1/checkout/sessions"
    params: Params  # form body (POST) or query string, bracket keys nested; values are strings
    idempotency_key: str | None  # POST only (the SDK sends one on every POST)
    headers: dict[str, str]
    status: int = 0  # what the double answered
    response: StripeObj = field(default_factory=dict)
    replayed: bool = False  # answered from the idempotency cache


class _SessionTerms(NamedTuple):
    """What a Checkout Session's request said that Stripe applies only once the customer completes it."""

    price_ids: list[str]
    subscription_metadata: dict[str, str]  # subscription_data[metadata]
    intent_metadata: dict[str, str]  # payment_intent_data[metadata]


def parse_form(pairs: Iterable[tuple[str, str]]) -> Params:
    """`line_items[0][price]=p` -> {"line_items": [{"price": "p"}]}; `metadata` keys never become lists."""
    root: Params = {}
    for key, value in pairs:
        head, *rest = key.split("[")
        parts = [head, *(part.removesuffix("]") for part in rest)]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part or str(len(node)), {})
        node[parts[-1] or str(len(node))] = value
    return _listify(root)


def _listify(node: Params, name: str = "") -> Any:
    children = {
        key: _listify(value, key) if isinstance(value, dict) else value for key, value in node.items()
    }
    if name != "metadata" and children and all(key.isdigit() for key in children):
        return [children[key] for key in sorted(children, key=int)]
    return children


def _missing(kind: str, object_id: str, param: str | None = None) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _required(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def _bool(params: Params, name: str) -> bool:
    value = params[name]
    if value not in ("true", "false"):
        raise StripeError(400, f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=name)
    return value == "true"


def _created_matches(created: int, condition: Any) -> bool:
    if condition is None:
        return True
    if not isinstance(condition, dict):
        return created == int(condition)
    return all(_CREATED_OPS[op](created, int(bound)) for op, bound in condition.items() if op in _CREATED_OPS)


def _found(store: dict[str, StripeObj], kind: str, object_id: str) -> StripeObj:
    if object_id not in store:
        raise _missing(kind, object_id)
    return store[object_id]


class StripeAPIDouble:
    """In-process Stripe API on 127.0.0.1 (port chosen by the OS); point the SDK at `base_url`."""

    def __init__(self, api_key: str = API_KEY, *, clock: Callable[[], float] = time.time) -> None:
        self.api_key = api_key
        self.clock = clock  # replace to control `created` / `expires_at` / period timestamps
        self.requests: list[RecordedRequest] = []
        self.prices: dict[str, StripeObj] = {}
        self.checkout_sessions: dict[str, StripeObj] = {}
        self.portal_sessions: dict[str, StripeObj] = {}
        self.subscriptions: dict[str, StripeObj] = {}
        self.invoices: dict[str, StripeObj] = {}
        self.invoice_payments: dict[str, StripeObj] = {}
        self.payment_intents: dict[str, StripeObj] = {}
        self.charges: dict[str, StripeObj] = {}
        self.refunds: dict[str, StripeObj] = {}
        self.disputes: dict[str, StripeObj] = {}
        self._session_terms: dict[str, _SessionTerms] = {}
        self._replies: dict[str, tuple[str, str, Params, StripeObj]] = {}  # key -> method, path, params, body
        self._faults: list[tuple[str, StripeError]] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/v1/prices", self._list_prices),
            ("GET", "/v1/prices/{id}", self._get(self.prices, "price")),
            ("POST", "/v1/checkout/sessions", self._create_checkout_session),
            ("GET", "/v1/checkout/sessions", self._list_checkout_sessions),
            ("GET", "/v1/checkout/sessions/{id}", self._get_checkout_session),
            ("POST", "/v1/billing_portal/sessions", self._create_portal_session),
            ("GET", "/v1/subscriptions/{id}", self._get(self.subscriptions, "subscription")),
            ("POST", "/v1/subscriptions/{id}", self._update_subscription),
            ("GET", "/v1/invoices", self._list_invoices),
            ("GET", "/v1/invoices/{id}", self._get(self.invoices, "invoice")),
            ("GET", "/v1/invoice_payments", self._list_invoice_payments),
            ("GET", "/v1/invoice_payments/{id}", self._get(self.invoice_payments, "invoice_payment")),
            ("GET", "/v1/payment_intents/{id}", self._get(self.payment_intents, "payment_intent")),
            ("GET", "/v1/charges", self._list_charges),
            ("GET", "/v1/charges/{id}", self._get(self.charges, "charge")),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._endpoint(handler))
        app.router.add_route("*", "/{tail:.*}", self._endpoint(None))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """For `StripeClient(base_addresses={"api": base_url})`; the SDK appends `/v1/...` itself."""
        return f"http://127.0.0.1:{self.port}"

    # --- what a test arranges ----------------------------------------------------------------------

    def add_price(
        self, price_id: str, unit_amount: int, currency: str, recurring_interval: str | None = None
    ) -> StripeObj:
        """A price of product `prod_<price_id>`; `recurring_interval` "day" | "week" | "month" | "year"."""
        price = objects.price(price_id, unit_amount, currency, recurring_interval, created=self._now())
        self.prices[price_id] = price
        return price

    def add_subscription(
        self,
        subscription_id: str,
        customer: str,
        price_id: str,
        status: str = "active",
        current_period_end: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StripeObj:
        """Since API 2025-03-31 the billing period lives on the item: `items.data[0].current_period_end`
        (one interval of the price after `current_period_start`; by default the period starts now)."""
        assert price_id in self.prices, f"add_price({price_id!r}, ...) first"
        price = self.prices[price_id]
        assert price["recurring"], f"{price_id} is not a recurring price"
        length = objects.interval_s(price)
        end = current_period_end if current_period_end is not None else self._now() + length
        start = end - length
        item = objects.subscription_item(
            self._id("si_"), subscription_id, copy.deepcopy(price), period=(start, end), created=start
        )
        self.subscriptions[subscription_id] = objects.subscription(
            subscription_id, customer, item, status=status, metadata=dict(metadata or {}), created=start
        )
        return self.subscriptions[subscription_id]

    def add_invoice(
        self,
        invoice_id: str,
        customer: str,
        *,
        amount_paid: int,
        currency: str = "usd",
        status: str = "paid",
        subscription_id: str | None = None,
        created: int | None = None,
        **extra: Any,
    ) -> StripeObj:
        """An invoice of `amount_paid` (its amount due, when not "paid") with one line: the
        subscription's item for its current period when the subscription is known, else a one-off
        invoice item. `extra` overrides fields of Stripe's invoice (unknown ones are refused)."""
        created = created if created is not None else self._now()
        subscription = self.subscriptions.get(subscription_id or "")
        line_id = self._id("il_")
        if subscription is not None:
            item = subscription["items"]["data"][0]
            period = (item["current_period_start"], item["current_period_end"])
            line = objects.subscription_line(line_id, invoice_id, item, amount=amount_paid, period=period)
        else:
            price_ids = (self._id("price_"), self._id("prod_"))
            line = objects.invoice_item_line(
                line_id,
                invoice_id,
                self._id("ii_"),
                amount=amount_paid,
                currency=currency,
                period=(created, created),
                price_ids=price_ids,
                subscription_id=subscription_id,
            )
        metadata = subscription["metadata"] if subscription is not None else {}
        self.invoices[invoice_id] = objects.invoice(
            invoice_id,
            customer,
            amount=amount_paid,
            currency=currency,
            status=status,
            created=created,
            number=self._invoice_number(),
            billing_reason="subscription_create" if subscription_id else "manual",
            period=(created, created),
            lines=[line],
            subscription=(subscription_id, metadata) if subscription_id else None,
            extra=extra,
        )
        return self.invoices[invoice_id]

    def add_charge(
        self,
        charge_id: str,
        customer: str,
        *,
        amount: int,
        currency: str = "usd",
        status: str = "succeeded",
        created: int | None = None,
        **extra: Any,
    ) -> StripeObj:
        """A card charge with no PaymentIntent unless `extra` names one (unknown fields are refused)."""
        self.charges[charge_id] = objects.charge(
            charge_id,
            amount=amount,
            currency=currency,
            customer=customer,
            status=status,
            payment_intent=None,
            payment_method=self._id("pm_"),
            balance_transaction=self._id("txn_") if status == "succeeded" else None,
            created=created if created is not None else self._now(),
            extra=extra,
        )
        return self.charges[charge_id]

    def complete_session(
        self,
        session_id: str,
        *,
        payment_status: str = "paid",
        subscription_id: str | None = None,
        customer: str | None = None,
    ) -> StripeObj:
        """What the customer finishing Checkout does; returns a copy for a `checkout.session.completed` event.

        In subscription mode the subscription (given or new) is registered too, with the session's
        recurring price and its `subscription_data[metadata]`. In payment mode a PaymentIntent (with
        the session's `payment_intent_data[metadata]`) and its Charge are registered: succeeded when
        `payment_status` is "paid", else still processing (a delayed payment method).
        """
        session = self.checkout_sessions[session_id]
        customer = customer or session["customer"] or self._id("cus_")
        session.update(status="complete", payment_status=payment_status, customer=customer)
        session.update(objects.completion(session["customer_email"]))
        terms = self._session_terms[session_id]
        if session["mode"] == "subscription":
            session["subscription"] = subscription_id or self._id("sub_")
            if session["subscription"] not in self.subscriptions:
                recurring = [price for price in terms.price_ids if self.prices[price]["recurring"]]
                self.add_subscription(
                    session["subscription"], customer, recurring[0], metadata=terms.subscription_metadata
                )
        elif session["mode"] == "payment" and session["payment_intent"] is None:
            intent = self._pay(
                session["amount_total"],
                session["currency"],
                customer,
                metadata=terms.intent_metadata,
                succeeded=payment_status == "paid",
            )
            session["payment_intent"] = intent["id"]
        return copy.deepcopy(session)

    def pay_invoice(
        self,
        subscription_id: str,
        *,
        billing_reason: str = "subscription_create",
        invoice_id: str | None = None,
    ) -> StripeObj:
        """A paid invoice for the subscription; returns a copy for an `invoice.paid` event.

        Registers its PaymentIntent, Charge and InvoicePayment and makes it the subscription's
        `latest_invoice`. A "subscription_cycle" invoice first moves the item on by one interval: as on
        Stripe, its `period_start`/`period_end` are the period that just ended, while its line's
        `period` is the one it pays for (the item's new current period). Any other billing reason bills
        the item's current period, with `period_start == period_end == created`.
        """
        subscription = self.subscriptions[subscription_id]
        item = subscription["items"]["data"][0]
        now = self._now()
        invoice_period = (now, now)
        if billing_reason == "subscription_cycle":
            invoice_period = (item["current_period_start"], item["current_period_end"])
            next_end = invoice_period[1] + objects.interval_s(item["price"])
            item.update(current_period_start=invoice_period[1], current_period_end=next_end)
        invoice_id = invoice_id or self._id("in_")
        amount = item["price"]["unit_amount"] * item["quantity"]
        currency = subscription["currency"]
        line = objects.subscription_line(
            self._id("il_"),
            invoice_id,
            item,
            amount=amount,
            period=(item["current_period_start"], item["current_period_end"]),
        )
        self.invoices[invoice_id] = objects.invoice(
            invoice_id,
            subscription["customer"],
            amount=amount,
            currency=currency,
            status="paid",
            created=now,
            number=self._invoice_number(),
            billing_reason=billing_reason,
            period=invoice_period,
            lines=[line],
            subscription=(subscription_id, subscription["metadata"]),
            extra={},
        )
        intent = self._pay(amount, currency, subscription["customer"], metadata={}, succeeded=True)
        payment_id = self._id("inpay_")
        self.invoice_payments[payment_id] = objects.invoice_payment(
            payment_id, invoice_id, intent["id"], amount=amount, currency=currency, created=now
        )
        subscription["latest_invoice"] = invoice_id
        return copy.deepcopy(self.invoices[invoice_id])

    def charge_of(self, payment_intent_id: str) -> str:
        """The id of the PaymentIntent's (latest) charge."""
        return str(self.payment_intents[payment_intent_id]["latest_charge"])

    def refund(self, charge_id: str, amount: int | None = None) -> StripeObj:
        """Refunds `amount` (default: all that is left) of a charge; returns a copy of the charge for a
        `charge.refunded` event."""
        charge = self.charges[charge_id]
        left = charge["amount"] - charge["amount_refunded"]
        amount = left if amount is None else amount
        if not 0 < amount <= left:
            raise ValueError(f"cannot refund {amount} of {charge_id}: {left} left to refund")
        refund_id = self._id("re_")
        self.refunds[refund_id] = objects.refund(
            refund_id, charge, amount=amount, balance_transaction=self._id("txn_"), created=self._now()
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(self.refunds[refund_id]))  # newest first
        return copy.deepcopy(charge)

    def open_dispute(
        self, charge_id: str, *, status: str = "needs_response", reason: str = "fraudulent"
    ) -> StripeObj:
        """The cardholder disputes a charge; returns a copy for a `charge.dispute.created` event. The
        charge becomes `disputed` at once, as on Stripe (it stays so whatever the outcome)."""
        charge = self.charges[charge_id]
        dispute_id = self._id("dp_")
        self.disputes[dispute_id] = objects.dispute(
            dispute_id, charge, status=status, reason=reason, created=self._now()
        )
        charge["disputed"] = True
        return copy.deepcopy(self.disputes[dispute_id])

    def close_dispute(self, dispute_id: str, status: str) -> StripeObj:
        """`status` "won" or "lost"; returns a copy for a `charge.dispute.closed` event."""
        if status not in ("won", "lost"):
            raise ValueError(f"a dispute closes as won or lost, not {status!r}")
        dispute = self.disputes[dispute_id]
        dispute.update(status=status, is_charge_refundable=False)
        self.charges[dispute["charge"]]["disputed"] = True
        return copy.deepcopy(dispute)

    def early_fraud_warning(self, charge_id: str, fraud_type: str = "made_with_stolen_card") -> StripeObj:
        """For a `radar.early_fraud_warning.created` event (not kept: the double serves no Radar API)."""
        charge = self.charges[charge_id]
        return objects.early_fraud_warning(
            self._id("issfr_"), charge, fraud_type=fraud_type, created=self._now()
        )

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        times: int = 1,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next `times` requests whose path starts with `path_prefix` get this error (never cached
        for idempotency). A 429 defaults to code "rate_limit"; 5xx to type "api_error"."""
        if code is None and status == 429:
            code = "rate_limit"
        default = "Request rate limit exceeded." if status == 429 else f"Injected failure ({status})."
        error = StripeError(status, message or default, code=code, error_type=error_type, headers=headers)
        self._faults.extend((path_prefix, error) for _ in range(times))

    # --- what a test reads -------------------------------------------------------------------------

    def of(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- the server --------------------------------------------------------------------------------

    def _endpoint(self, handler: Handler | None) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            form = await request.post() if request.method == "POST" else request.query
            params = parse_form((key, str(value)) for key, value in form.items())
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            call = RecordedRequest(request.method, request.path, params, key, dict(request.headers))
            self.requests.append(call)
            headers: dict[str, str] = {"Request-Id": self._id("req_")}
            try:
                call.response = self._answer(call, handler, request.match_info.get("id", ""))
                call.status = 200
            except StripeError as error:
                call.status, call.response = error.status, error.body
                headers.update(error.headers)
            if call.replayed:
                headers["Idempotent-Replayed"] = "true"
            return web.json_response(call.response, status=call.status, headers=headers)

        return serve

    def _answer(self, call: RecordedRequest, handler: Handler | None, object_id: str) -> StripeObj:
        if call.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise StripeError(401, "Invalid API Key provided.")
        fault = next((f for f in self._faults if call.path.startswith(f[0])), None)
        if fault is not None:
            self._faults.remove(fault)
            raise fault[1]
        if call.idempotency_key in self._replies:
            method, path, params, body = self._replies[call.idempotency_key]
            if (method, path, params) != (call.method, call.path, call.params):
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{call.idempotency_key}' if you meant "
                    "to execute a different request.",
                    error_type="idempotency_error",
                )
            call.replayed = True
            return copy.deepcopy(body)
        if handler is None:
            raise StripeError(404, f"Unrecognized request URL ({call.method}: {call.path}).")
        body = copy.deepcopy(handler(copy.deepcopy(call.params), object_id))
        if call.idempotency_key:
            self._replies[call.idempotency_key] = (call.method, call.path, call.params, body)
        return copy.deepcopy(body)

    def _now(self) -> int:
        return int(self.clock())

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _invoice_number(self) -> str:
        return f"{INVOICE_NUMBER_PREFIX}-{len(self.invoices) + 1:04d}"

    def _pay(
        self, amount: int, currency: str, customer: str | None, *, metadata: dict[str, str], succeeded: bool
    ) -> StripeObj:
        """Registers a card PaymentIntent and its Charge (which copies the intent's metadata)."""
        now = self._now()
        intent_id, charge_id, method = self._id("pi_"), self._id("ch_"), self._id("pm_")
        self.charges[charge_id] = objects.charge(
            charge_id,
            amount=amount,
            currency=currency,
            customer=customer,
            status="succeeded" if succeeded else "pending",
            payment_intent=intent_id,
            payment_method=method,
            balance_transaction=self._id("txn_") if succeeded else None,
            created=now,
            extra={"metadata": dict(metadata)},
        )
        self.payment_intents[intent_id] = objects.payment_intent(
            intent_id,
            amount=amount,
            currency=currency,
            customer=customer,
            status="succeeded" if succeeded else "processing",
            latest_charge=charge_id,
            payment_method=method,
            metadata=dict(metadata),
            created=now,
        )
        return self.payment_intents[intent_id]

    def _list(
        self, url: str, stored: Iterable[StripeObj], params: Params, filters: Iterable[str]
    ) -> StripeObj:
        """Newest first; equality filters, `created[gt|gte|lt|lte]`, `limit`, `starting_after`."""
        rows = sorted(reversed(list(stored)), key=lambda row: row["created"], reverse=True)
        rows = [
            row for row in rows if all(row.get(name) == params[name] for name in filters if name in params)
        ]
        rows = [row for row in rows if _created_matches(row["created"], params.get("created"))]
        if "starting_after" in params:
            ids = [row["id"] for row in rows]
            if params["starting_after"] not in ids:
                raise _missing("object", params["starting_after"], "starting_after")
            rows = rows[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", DEFAULT_LIST_LIMIT))
        if not 1 <= limit <= 100:
            raise StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
        return objects.list_of(url, rows[:limit], has_more=len(rows) > limit)

    def _get(self, store: dict[str, StripeObj], kind: str) -> Handler:
        """`GET /v1/<kind>s/{id}`: the stored object, or Stripe's 404."""
        return lambda _params, object_id: _found(store, kind, object_id)

    def _line_price(self, index: int, item: Params) -> StripeObj:
        if "price" in item:
            if item["price"] not in self.prices:
                raise _missing("price", item["price"], f"line_items[{index}][price]")
            return self.prices[item["price"]]
        data = item.get("price_data")
        if not isinstance(data, dict):
            raise _required(f"line_items[{index}][price]")
        for name in ("currency", "unit_amount"):
            if name not in data:
                raise _required(f"line_items[{index}][price_data][{name}]")
        if "product" not in data and "product_data" not in data:
            raise _required(f"line_items[{index}][price_data][product_data]")
        interval = data.get("recurring", {}).get("interval")
        return self.add_price(self._id("price_"), int(data["unit_amount"]), data["currency"], interval)

    def _list_prices(self, params: Params, _: str) -> StripeObj:
        prices = list(self.prices.values())
        if "active" in params:
            active = _bool(params, "active")
            prices = [price for price in prices if price["active"] == active]
        return self._list("/v1/prices", prices, params, ("type",))

    def _create_checkout_session(self, params: Params, _: str) -> StripeObj:
        mode = params.get("mode")
        if mode is None:
            raise _required("mode")
        if mode not in ("payment", "subscription", "setup"):
            raise StripeError(
                400, "Invalid mode: must be one of payment, setup, or subscription", param="mode"
            )
        if "allow_promotion_codes" in params:
            _bool(params, "allow_promotion_codes")  # a boolean, as Stripe refuses anything else
            if params.get("discounts"):
                raise StripeError(
                    400,
                    "You may only specify one of these parameters: allow_promotion_codes, discounts.",
                    param="allow_promotion_codes",
                )
        items = params.get("line_items", [])
        if mode != "setup" and not items:
            raise _required("line_items")
        prices = [self._line_price(index, item) for index, item in enumerate(items)]
        recurring = any(price["recurring"] for price in prices)
        if mode == "subscription" and not recurring:
            raise StripeError(
                400, "You must provide at least one recurring price in `subscription` mode when using prices."
            )
        if mode == "payment" and recurring:
            raise StripeError(
                400,
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
            )
        amount = sum(
            price["unit_amount"] * int(item.get("quantity", "1"))
            for price, item in zip(prices, items, strict=True)
        )
        now = self._now()
        session_id = self._id("cs_test_")
        self.checkout_sessions[session_id] = objects.checkout_session(
            session_id,
            params,
            prices=prices,
            amount=amount,
            created=now,
            expires_at=int(params.get("expires_at", now + CHECKOUT_LIFETIME_S)),
            setup_intent=self._id("seti_") if mode == "setup" else None,
        )
        self._session_terms[session_id] = _SessionTerms(
            [price["id"] for price in prices],
            params.get("subscription_data", {}).get("metadata", {}),
            params.get("payment_intent_data", {}).get("metadata", {}),
        )
        return self.checkout_sessions[session_id]

    def _get_checkout_session(self, _: Params, session_id: str) -> StripeObj:
        if session_id not in self.checkout_sessions:
            raise _missing("checkout.session", session_id, "session")
        return self.checkout_sessions[session_id]

    def _list_checkout_sessions(self, params: Params, _: str) -> StripeObj:
        filters = ("status", "customer", "subscription", "payment_intent")
        return self._list("/v1/checkout/sessions", self.checkout_sessions.values(), params, filters)

    def _create_portal_session(self, params: Params, _: str) -> StripeObj:
        if "customer" not in params:
            raise _required("customer")
        portal_id = self._id("bps_")
        self.portal_sessions[portal_id] = objects.portal_session(
            portal_id, params["customer"], params.get("return_url"), created=self._now()
        )
        return self.portal_sessions[portal_id]

    def _update_subscription(self, params: Params, subscription_id: str) -> StripeObj:
        subscription = _found(self.subscriptions, "subscription", subscription_id)
        if subscription["status"] == "canceled" and set(params) - {
            "metadata",
            "cancellation_details",
            "expand",
        }:
            raise StripeError(
                400, "A canceled subscription can only update its cancellation_details and metadata."
            )
        if "cancel_at_period_end" in params:
            cancel = _bool(params, "cancel_at_period_end")
            period_end = subscription["items"]["data"][0]["current_period_end"]
            subscription.update(
                cancel_at_period_end=cancel,
                cancel_at=period_end if cancel else None,
                canceled_at=self._now() if cancel else None,
            )
        metadata = params.get("metadata")
        for key, value in (metadata if isinstance(metadata, dict) else {}).items():
            if value == "":
                subscription["metadata"].pop(key, None)  # Stripe unsets a key sent empty
            else:
                subscription["metadata"][key] = value
        return subscription

    def _list_invoices(self, params: Params, _: str) -> StripeObj:
        wanted = params.get("subscription")
        invoices = [
            invoice
            for invoice in self.invoices.values()
            if wanted is None
            or (invoice["parent"] or {}).get("subscription_details", {}).get("subscription") == wanted
        ]
        return self._list("/v1/invoices", invoices, params, ("customer", "status"))

    def _list_invoice_payments(self, params: Params, _: str) -> StripeObj:
        """Like Stripe, wants the invoice or the payment whose invoice payments to list."""
        if "invoice" not in params and "payment" not in params:
            raise StripeError(
                400,
                "You must specify either `invoice` or `payment`.",
                code="parameter_missing",
                param="invoice",
            )
        payment = params.get("payment", {})
        if not isinstance(payment, dict):
            raise StripeError(400, "Invalid object", code="parameter_invalid_string", param="payment")
        if payment and "type" not in payment:
            raise _required("payment[type]")
        rows = [
            row
            for row in self.invoice_payments.values()
            if all(row["payment"].get(name) == value for name, value in payment.items())
        ]
        return self._list("/v1/invoice_payments", rows, params, ("invoice", "status"))

    def _list_charges(self, params: Params, _: str) -> StripeObj:
        return self._list("/v1/charges", self.charges.values(), params, ("customer", "payment_intent"))


# --- webhooks ----------------------------------------------------------------------------------------


def sign_webhook(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends: `t=<ts>,v1=<hex hmac_sha256(secret, "<ts>.<payload>")>`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(type: str, obj: StripeObj, *, event_id: str | None = None, created: int | None = None) -> StripeObj:
    """A snapshot event envelope as Stripe delivers it to a webhook endpoint (`obj` is copied)."""
    return objects.event(
        type,
        copy.deepcopy(obj),
        event_id=event_id or f"evt_{secrets.token_hex(12)}",
        created=created if created is not None else int(time.time()),
    )


# --- wiring for tests --------------------------------------------------------------------------------


@asynccontextmanager
async def stripe_client(
    double: StripeAPIDouble, *, max_network_retries: int = 0, api_key: str | None = None
) -> AsyncIterator[stripe.StripeClient]:
    """The real SDK pointed at the double; closes its aiohttp session on exit (StripeClient has no close)."""
    http_client = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        api_key or double.api_key,
        base_addresses={"api": double.base_url},
        http_client=http_client,
        max_network_retries=max_network_retries,
    )
    try:
        yield client
    finally:
        await http_client.close_async()


@pytest_asyncio.fixture(name="stripe_api")
async def stripe_api_fixture() -> AsyncIterator[StripeAPIDouble]:
    """The `stripe_api` fixture: a started double, stopped after the test."""
    double = StripeAPIDouble()
    await double.start()
    try:
        yield double
    finally:
        await double.stop()
