"""The statuses rows move through, as the database stores them."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """queued → running → succeeded | failed; queued or running → cancelled; running → queued again
    when its lease lapses or the provider asks to wait."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_JOBS = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobLane(StrEnum):
    """Where a job waits, decided when it is queued: `paid` (its account bought a pack or has a plan)
    is claimed before `trial`, unless the trial lane has waited too long (core.db.repositories.jobs)."""

    PAID = "paid"
    TRIAL = "trial"


class HoldStatus(StrEnum):
    """A credit hold is opened `held` and closed once, by a settle or a refund."""

    HELD = "held"
    SETTLED = "settled"
    REFUNDED = "refunded"


class DeliveryStatus(StrEnum):
    """An outbox delivery: pending until sent, given up (the chat is gone) or expired."""

    PENDING = "pending"
    SENT = "sent"
    GIVEN_UP = "given_up"
    EXPIRED = "expired"


class RequestStatus(StrEnum):
    """A deletion request or a broadcast: pending until done."""

    PENDING = "pending"
    DONE = "done"


class PaymentStatus(StrEnum):
    """A purchase: paid; refunded in whole or in part; disputed with the bank, then paid again (won)
    or dispute_lost."""

    PAID = "paid"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"
    DISPUTE_LOST = "dispute_lost"


class SubscriptionStatus(StrEnum):
    """A plan's state as Stripe names it (a value Stripe adds later is stored as it comes)."""

    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"


class ReferralStatus(StrEnum):
    """An invitation: waiting for the invitee's first purchase, then rewarded once; revoked (for good)
    when that purchase is refunded or lost in a dispute."""

    PENDING = "pending"
    REWARDED = "rewarded"
    REVOKED = "revoked"
