"""The Telegram Bot API as Telegram describes it (`telegram-bot-api.json` in shared/specs, extracted
from the official Bot API page): the fields each method takes and each type carries, and the rules
the payment methods' descriptions state. The Telegram double refuses, as Telegram does, a payment
call these refuse, and builds the payment messages it hands to tests from these types."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "telegram-bot-api.json"
STARS = "XTR"
SUBSCRIPTION_PERIOD_S = 2592000  # "Currently, it must always be 2592000 (30 days) if specified"
MAX_SUBSCRIPTION_STARS = 10000  # "Subscription price must no exceed 10000 Telegram Stars"
# Methods whose requests the double checks against the description.
CHECKED_METHODS = ("createInvoiceLink", "sendInvoice", "refundStarPayment", "editUserStarSubscription")


@functools.cache
def spec() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        raise FileNotFoundError(
            f"The Telegram Bot API description is missing at {SPEC_PATH}: the Telegram double checks "
            "payment calls against it. shared/specs/ must sit beside the repository."
        )
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def fields_of(kind: str, name: str) -> dict[str, bool]:
    """A method's parameters or a type's fields (`kind`: methods | types), each with whether it is
    required."""
    return {field["name"]: bool(field["required"]) for field in spec()[kind][name].get("fields", [])}


def returns(method: str) -> list[str]:
    return list(spec()["methods"][method]["returns"])


def request_errors(method: str, fields: dict[str, Any]) -> list[str]:
    """Why Telegram would refuse this call of `method` (nothing when it would accept it)."""
    described = fields_of("methods", method)
    errors = [f"{method}: unknown parameter {name}" for name in sorted(set(fields) - set(described))]
    errors += [
        f"{method}: {name} is required"
        for name, required in described.items()
        if required and name not in fields
    ]
    if method in ("createInvoiceLink", "sendInvoice"):
        errors += _invoice_errors(method, fields)
    return errors


def _invoice_errors(method: str, fields: dict[str, Any]) -> list[str]:
    errors = []
    if not 1 <= len(str(fields.get("title", ""))) <= 32:
        errors.append(f"{method}: title must be 1-32 characters")
    if not 1 <= len(str(fields.get("description", ""))) <= 255:
        errors.append(f"{method}: description must be 1-255 characters")
    if not 1 <= len(str(fields.get("payload", "")).encode()) <= 128:
        errors.append(f"{method}: payload must be 1-128 bytes")
    prices = fields.get("prices") or []
    stars = fields.get("currency") == STARS
    if stars and len(prices) != 1:
        errors.append(f"{method}: a Stars invoice has exactly one price")
    if stars and fields.get("provider_token"):
        errors.append(f"{method}: a Stars invoice takes an empty provider_token")
    if "subscription_period" in fields:
        if fields["subscription_period"] != SUBSCRIPTION_PERIOD_S:
            errors.append(f"{method}: subscription_period must be {SUBSCRIPTION_PERIOD_S}")
        if not stars:
            errors.append(f"{method}: a subscription is paid in Stars")
        if sum(int(price.get("amount", 0)) for price in prices) > MAX_SUBSCRIPTION_STARS:
            errors.append(f"{method}: a subscription costs at most {MAX_SUBSCRIPTION_STARS} Stars")
    return errors


def shape_errors(type_name: str, obj: dict[str, Any]) -> list[str]:
    """What in `obj` the description of `type_name` lacks, or what it requires and `obj` lacks."""
    described = fields_of("types", type_name)
    errors = [f"{type_name}: unknown field {name}" for name in sorted(set(obj) - set(described))]
    errors += [
        f"{type_name}: {name} is required"
        for name, required in described.items()
        if required and name not in obj
    ]
    return errors
