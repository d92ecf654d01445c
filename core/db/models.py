"""The tables. Relationships are lazy="raise": every query is explicit and lives in a repository."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db.statuses import HoldStatus, JobLane, JobStatus
from core.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Account(Base):
    """Owns credits. Balances are caches of the ledger, changed only together with an entry."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("balance_subscription >= 0", name="subscription_not_negative"),
        CheckConstraint("balance_one_time >= 0", name="one_time_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    language: Mapped[str | None] = mapped_column(String(16))
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    balance_subscription: Mapped[int] = mapped_column(default=0)
    balance_one_time: Mapped[int] = mapped_column(default=0)
    frozen_reason: Mapped[str | None] = mapped_column(String(32))  # e.g. "dispute": no new generations


class Identity(Base):
    """A platform user pointing at an account: (`telegram`, `42`) -> account 7."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id", name="platform_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """Append-only. The sum of an account's entries per bucket equals its cached balance."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    bucket: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # the operators' daily figures
    # A group wallet's spend: the member whose request it paid for (their export lists it; erasing
    # them unlinks it, the wallet's entry stays).
    member_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)


class CreditHold(Base):
    """Credits taken at submit; closed exactly once, by a settle or a refund."""

    __tablename__ = "credit_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    reference: Mapped[str | None] = mapped_column(String(128))
    subscription_amount: Mapped[int]
    one_time_amount: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=HoldStatus.HELD)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    # A group wallet's hold: the member it pays for, carried onto its settle or refund entries.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))


class Job(Base):
    """A generation: the queue and its record at once."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_account", "status", "account_id"),
        # A group wallet's jobs of a day: what its quota and cap count.
        Index(
            "ix_jobs_wallet_created",
            "wallet_id",
            "created_at",
            postgresql_where=text("wallet_id IS NOT NULL"),
            sqlite_where=text("wallet_id IS NOT NULL"),
        ),
        # Jobs waiting out a backoff: when an idle worker should look again.
        Index(
            "ix_jobs_backoff",
            "not_before",
            postgresql_where=text("status = 'queued' AND not_before IS NOT NULL"),
            sqlite_where=text("status = 'queued' AND not_before IS NOT NULL"),
        ),
        # Jobs whose content is to be erased (made while the account kept no history), by when they
        # finished: what the upkeep walks (core.privacy.unkept). Erased ones leave the index.
        Index(
            "ix_jobs_unkept",
            "finished_at",
            postgresql_where=text("kept = false AND erased_at IS NULL"),
            sqlite_where=text("kept = 0 AND erased_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    identity: Mapped[str] = mapped_column(String(170))
    chat: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    lane: Mapped[str] = mapped_column(String(8), default=JobLane.PAID, server_default=JobLane.PAID.value)
    prompt: Mapped[str] = mapped_column(Text)
    provider_prompt: Mapped[str] = mapped_column(Text)
    style: Mapped[str] = mapped_column(String(32))
    ratio: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(4))
    width: Mapped[int]
    height: Mapped[int]
    model: Mapped[str] = mapped_column(String(64))
    quality: Mapped[str] = mapped_column(String(16))
    n: Mapped[int]
    cost: Mapped[int]
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("credit_holds.id"))
    # The group wallet that paid, when not the account itself: its quotas count these jobs.
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    references: Mapped[list[str]] = mapped_column(default=list)
    # Indexed: deleting a job looks up the jobs made from it (the foreign key's SET NULL).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    action: Mapped[str | None] = mapped_column(String(16))
    # The chat message that asked for it: a platform delivering that message again (after a crash,
    # Telegram re-sends what was not confirmed) finds this job instead of paying for a second one.
    request_key: Mapped[str | None] = mapped_column(String(240), unique=True)
    outputs: Mapped[list[str]] = mapped_column(default=list)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_ref: Mapped[str | None] = mapped_column(String(16), index=True)  # quoted to support
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime | None]
    # The worker process rendering a `running` job, and until when its claim holds unless renewed.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None] = mapped_column(index=True)  # the operators' daily figures
    # False: made while the account kept no history (`/privacy keep off`), so its prompt, references
    # and images are erased a while after it finished; `erased_at` says when that was done.
    kept: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    erased_at: Mapped[datetime | None]


class GroupWallet(Base):
    """A group chat's shared credits: an account of its own, spent by the members' requests in that
    chat while `enabled`, within `member_quota` images per member and `daily_cap` images for the whole
    group per (UTC) day, when set."""

    __tablename__ = "group_wallets"

    chat: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    member_quota: Mapped[int | None]
    daily_cap: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobReference(Base):
    """A stored file a job reads (an uploaded reference, shared by content between accounts): whether
    an upload is still needed is an indexed lookup by path. Written with the job, gone with it."""

    __tablename__ = "job_references"

    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Delivery(Base):
    """The outbox: a reply that must reach a chat, written in the same transaction as the change it
    reports (a settle, a refund), then sent and retried until it is delivered or given up."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # by code point on PostgreSQL, so that a prefix is a range of the index (SQLite always compares so)
    key: Mapped[str] = mapped_column(
        String(160).with_variant(String(160, collation="C"), "postgresql"), unique=True
    )
    chat: Mapped[str] = mapped_column(String(200), index=True)  # erasure finds a chat's messages
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Progress is worth sending only for a while; results and notices never expire.
    expires_at: Mapped[datetime | None]
    # When sending an image began: still set after a crash means it may have arrived.
    attempted_at: Mapped[datetime | None]
    # The process sending it now: no other process sends it until the claim lapses.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ProviderCall(Base):
    """One render started at an image provider endpoint: the rolling window behind each endpoint's
    images per minute and concurrent calls, shared by every worker process. `finished_at` and
    `outcome` (`ok` or an error code) are written when the call returns: what `admin providers` shows."""

    __tablename__ = "provider_calls"
    __table_args__ = (Index("ix_provider_calls_endpoint_started_at", "endpoint", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(index=True)
    images: Mapped[int]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))


class ProviderBreaker(Base):
    """An endpoint's circuit breaker, shared by every worker process: open while `open_until` is set
    (no calls); once it has passed, one probe is let through (`probe_at` is when it was taken)."""

    __tablename__ = "provider_breakers"

    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    open_until: Mapped[datetime | None]
    probe_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(32))
    last_error_at: Mapped[datetime | None]


NEVER_SERVED = datetime(1970, 1, 1, tzinfo=UTC)


class AccountQueue(Base):
    """An account's place in the job queue, changed in the transactions that move its jobs: the
    worker's claim walks `ix_account_queues_turn` within a lane (fewest running, served least
    recently, oldest job) instead of counting every account's jobs; `ix_account_queues_head` gives
    each lane's oldest queued job, whose age decides which lane goes first."""

    __tablename__ = "account_queues"
    __table_args__ = (
        Index(
            "ix_account_queues_turn",
            "lane",
            "running",
            "last_served_at",
            "next_job_id",
            postgresql_where=text("queued > 0"),
            sqlite_where=text("queued > 0"),
        ),
        Index(
            "ix_account_queues_head",
            "lane",
            "next_job_id",
            postgresql_where=text("queued > 0"),
            sqlite_where=text("queued > 0"),
        ),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    running: Mapped[int] = mapped_column(default=0)
    queued: Mapped[int] = mapped_column(default=0)
    # When a job of the account last started; an account never served sorts first.
    last_served_at: Mapped[datetime] = mapped_column(default=NEVER_SERVED)
    next_job_id: Mapped[int | None]  # its oldest queued job
    # The lane of its queued jobs: paid while any of them is paid.
    lane: Mapped[str] = mapped_column(String(8), default=JobLane.PAID, server_default=JobLane.PAID.value)


class InboundMessage(Base):
    """A platform message id already taken in (WeCom retries a callback it thinks was missed): kept in the
    database so that any number of processes answer it once. Old rows are purged by retention."""

    __tablename__ = "inbound_messages"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class TrialGrant(Base):
    """A platform identity that has received the free trial, as a keyed hash (HMAC with a server secret)
    so the identity cannot be read back. Kept after erasure: one trial per person, ever."""

    __tablename__ = "trial_grants"

    identity_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkFailure(Base):
    """A wrong `/link` code typed by an identity: a few per hour are allowed, then linking pauses."""

    __tablename__ = "link_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity: Mapped[str] = mapped_column(String(170), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SafetyStrike(Base):
    """A prompt the safety system refused; enough of them in 24 h put the account on a cooldown."""

    __tablename__ = "safety_strikes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UnreachableChat(Base):
    """A chat the platform refused to deliver to for good (the user blocked the bot, the chat is gone).
    Nothing more is sent there until someone writes from it again."""

    __tablename__ = "unreachable_chats"

    chat: Mapped[str] = mapped_column(String(200), primary_key=True)
    keep_pending: Mapped[bool] = mapped_column(default=False)  # deliver what waits once they write
    since: Mapped[datetime] = mapped_column(default=utcnow)


class NoticePointer(Base):
    """The group a person last asked from, for notices that go to their private chat (`chat`): while
    that chat refuses the bot until they write there, the group gets a pointer without content."""

    __tablename__ = "notice_pointers"

    chat: Mapped[str] = mapped_column(String(200), primary_key=True)  # the private chat
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(200))  # the group asked from
    language: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))  # how the group knows them; erased with them
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SupportTicket(Base):
    """A conversation between a user and the support staff, shown everywhere as `#<id>`."""

    __tablename__ = "support_tickets"
    __table_args__ = (Index("ix_support_tickets_account_status", "account_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(170))
    chat: Mapped[str] = mapped_column(String(200))  # where the user wrote from: replies go there
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    # The result it reports (`/report`): one ticket per job; kept when the job is erased, unlinked.
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True, unique=True
    )


class SupportMessage(Base):
    """One message of a ticket's thread, from the user or from a member of staff."""

    __tablename__ = "support_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(170))  # "user", or the staff member's identity
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what to which account, for actions taken on someone else's behalf (credits by staff)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(170), index=True)  # erasure looks identities up
    action: Mapped[str] = mapped_column(String(64), index=True)  # the audit log is filtered by action
    account_id: Mapped[int | None] = mapped_column(index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlatformState(Base):
    """Small values a platform door must keep across restarts (a message cursor), by key."""

    __tablename__ = "platform_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """A purchase (a pack, or one billing cycle of a plan) and what it did to the ledger.

    Kept when an account is erased: accounting needs it, and it names no person."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "reference", name="provider_reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    provider: Mapped[str] = mapped_column(String(32))  # stripe | telegram_stars
    reference: Mapped[str] = mapped_column(String(200))  # checkout session, invoice or Stars charge id
    kind: Mapped[str] = mapped_column(String(16))  # pack | plan
    item: Mapped[str] = mapped_column(String(64))
    credits: Mapped[int]
    amount: Mapped[int | None]  # minor units (cents), or Stars
    currency: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(24))  # a PaymentStatus
    payment_intent: Mapped[str | None] = mapped_column(String(200), index=True)
    customer: Mapped[str | None] = mapped_column(String(200))
    subscription: Mapped[str | None] = mapped_column(String(200))
    receipt_url: Mapped[str | None] = mapped_column(Text)
    chat: Mapped[str | None] = mapped_column(String(200))  # where to tell the buyer; erased with them
    credits_reclaimed: Mapped[int] = mapped_column(default=0)
    shortfall: Mapped[int] = mapped_column(default=0)  # credits a refund could not take back (spent)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripeEvent(Base):
    """A verified webhook event, stored before it is answered, handled exactly once."""

    __tablename__ = "stripe_events"
    __table_args__ = (Index("ix_stripe_events_due", "handled_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created: Mapped[int]  # Stripe's own timestamp: the order events happened in
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(String(200))
    # The process handling it now: no other process takes it until the claim lapses.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]


class Subscription(Base):
    """A plan an account subscribes to, as Stripe last told us, or as Telegram Stars payments made it
    (core.payments.stars_plans), whose lapses are found by the end of the paid period."""

    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_current_period_end", "current_period_end"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # Stripe's subscription id
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    plan: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))  # a SubscriptionStatus, or a newer one of Stripe's
    customer: Mapped[str | None] = mapped_column(String(200))
    chat: Mapped[str | None] = mapped_column(String(200))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkout(Base):
    """A payment link we posted: which account and chat it belongs to, so the webhook can answer there."""

    __tablename__ = "checkouts"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the Checkout Session id, or a token
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    item: Mapped[str] = mapped_column(String(64))
    chat: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivacyProfile(Base):
    """What the account holder told us and chose: profile, acceptance, consents, legal hold.

    No row until the terms are first accepted. Erasure deletes it; an account joined into another by
    `/link` keeps only `merged_into`."""

    __tablename__ = "privacy_profiles"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    terms_version: Mapped[str | None] = mapped_column(String(32))
    policy_version: Mapped[str | None] = mapped_column(String(32))
    accepted_at: Mapped[datetime | None]
    analytics: Mapped[bool] = mapped_column(default=False)
    marketing: Mapped[bool] = mapped_column(default=False)
    trial_granted: Mapped[bool] = mapped_column(default=False)
    direct_chat: Mapped[str | None] = mapped_column(String(200))  # their private chat: broadcasts go there
    last_export_at: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(String(200))  # a legal hold: no erasure, no purge
    # `/privacy keep off`: new jobs are made unkept (their content erased after `unkept_hours`)
    keep_history: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    merged_into: Mapped[int | None] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRecord(Base):
    """Append-only: each acceptance of the terms, and each consent given or withdrawn."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # terms | analytics | marketing | keep_history
    granted: Mapped[bool]
    terms_version: Mapped[str | None] = mapped_column(String(32))
    policy_version: Mapped[str | None] = mapped_column(String(32))
    min_age: Mapped[int | None]
    platform: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # user | implied | carried
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalyticsEvent(Base):
    """Written only with analytics consent; names and non-identifying properties, never content."""

    __tablename__ = "analytics_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivacyCode(Base):
    """A one-time code that confirms an erasure or links an identity; only its hash is kept."""

    __tablename__ = "privacy_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # delete | link
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeletionRequest(Base):
    """An erasure, recorded before it starts and carried out in idempotent steps: a restart finishes it."""

    __tablename__ = "deletion_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), unique=True)
    requested_by: Mapped[str] = mapped_column(String(16))  # user | operator
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    files: Mapped[list[str]] = mapped_column(default=list)  # what is left to remove from the data folder
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class ExportFile(Base):
    """A data export on disk: removed after 24 hours, or downloaded once through its token."""

    __tablename__ = "export_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(200))  # relative to the data directory
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    downloaded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Broadcast(Base):
    """An operator's message to every account with marketing on, sent at each platform's pace."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    next_account: Mapped[int] = mapped_column(default=0)  # accounts below it have been sent to
    sent: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class NamedLease(Base):
    """A background loop that one process at a time runs (the retention purge, the broadcast sender):
    which process holds it, and until when (`core.db.leases`)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[datetime | None]


class SendPace(Base):
    """A bot token's send budget, shared by every process on PostgreSQL (`core.send_budget`): the
    next moment a message may go out on it, and a platform's "retry after" every process honours.
    `key` names the token without containing it."""

    __tablename__ = "send_paces"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_free: Mapped[datetime]
    held_until: Mapped[datetime]


class SendChatPace(Base):
    """The next moment one chat may be sent to on a token; a row in the past is stale and pruned."""

    __tablename__ = "send_chat_paces"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat: Mapped[str] = mapped_column(String(200), primary_key=True)
    next_free: Mapped[datetime]


class StatusBoard(Base):
    """A chat's status message, shared by every process that speaks for the bot: the message, the
    newest state of each active job it lists, and the one process that sends it at a time
    (`core.status_boards`)."""

    __tablename__ = "status_boards"

    chat: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    shows_photo: Mapped[bool] = mapped_column(default=False)
    lines: Mapped[list[Any]] = mapped_column(JSON)  # [job, its newest reply as JSON], in arrival order
    preview_of: Mapped[int | None]  # the job whose preview the message shows
    version: Mapped[int] = mapped_column(default=0)  # counts changes of `lines`
    shown: Mapped[int] = mapped_column(default=0)  # the version the message shows
    edited_at: Mapped[datetime | None]
    editor: Mapped[str | None] = mapped_column(String(64))
    editor_until: Mapped[datetime | None]


class Operator(Base):
    """Someone who runs the service from the web admin. The password is kept only as an argon2 hash;
    `totp_secret` is set when the operator uses a second factor."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None]  # the 30-second step of the last code used: each signs in once
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]


class OperatorSession(Base):
    """A signed-in browser. Only a hash of the cookie's token is stored, so a copy of the database
    signs no one in; the CSRF token is sent with every form of the session."""

    __tablename__ = "operator_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInFailure(Base):
    """A wrong password or code: counted per name and per address, in the database, so that every
    web process refuses the same guesser."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_name_at", "name", "at"),
        Index("ix_sign_in_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Heartbeat(Base):
    """A process that is alive: each one renews its row every few seconds, so readiness checks in any
    process can tell whether some worker is rendering."""

    __tablename__ = "heartbeats"

    process: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)


class RedeemCode(Base):
    """An operator's credit code. Only its hash is kept, with a short prefix to tell codes apart, so
    a copy of the database lists no usable code. `used` never exceeds `uses` (the CHECK backs the
    conditional UPDATE that counts a redemption)."""

    __tablename__ = "redeem_codes"
    __table_args__ = (CheckConstraint("used <= uses", name="used_within_uses"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    credits: Mapped[int]
    uses: Mapped[int]
    used: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(170))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CodeFailure(Base):
    """A `/redeem` that credited nothing: a few per hour are allowed, then redeeming pauses."""

    __tablename__ = "code_failures"
    __table_args__ = (Index("ix_code_failures_account_id_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class InviteCode(Base):
    """An account's personal invitation code, and where to tell it about its invitees' purchases."""

    __tablename__ = "invite_codes"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    chat: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Referral(Base):
    """Who invited whom: an account is invited once; both are rewarded after its first purchase."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitee_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # a ReferralStatus
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rewarded_at: Mapped[datetime | None]
    # the purchase that paid the rewards: refunded or lost in a dispute, they are taken back
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"), index=True)
    shortfall: Mapped[int] = mapped_column(default=0, server_default="0")  # spent, not taken back
