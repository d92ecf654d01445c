"""The words for a status a user reads: `status.<value>` and friends, one catalog table per kind."""

from __future__ import annotations

from enum import StrEnum

from core.db.statuses import JobStatus, PaymentStatus, SubscriptionStatus
from core.i18n import Translator

TABLES: dict[type[StrEnum], str] = {
    JobStatus: "status",
    PaymentStatus: "status.payment",
    SubscriptionStatus: "subscription.states",
}


def status_text(t: Translator, kind: type[StrEnum], value: str) -> str:
    """The status in `t`'s language; a value the enum does not know (one Stripe added since) as stored."""
    try:
        member = kind(value)
    except ValueError:
        return value
    return t(f"{TABLES[kind]}.{member.value}")
