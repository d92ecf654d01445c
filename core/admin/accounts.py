"""Accounts as operators see them: found by who they are, the whole picture on one page, and the
actions that change them (credits granted or deducted, a freeze lifted, safety strikes reset)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from core import credits, notifier
from core.commands.parser import whole_number
from core.credits import Balance, InsufficientCredits
from core.db.models import AuditEvent, Job, Payment
from core.db.repositories import accounts as accounts_repo
from core.db.repositories import jobs as jobs_repo
from core.db.repositories import operations as repo
from core.db.repositories import payments as payments_repo
from core.db.repositories import privacy as privacy_repo
from core.db.repositories import support as support_repo
from core.db.session import Database
from core.db.types import utcnow
from core.i18n import Translator
from core.messages import ChatRef, text

__all__ = ["InsufficientCredits", "UnknownIdentity"]

REPORT_JOBS = 20
REPORT_PAYMENTS = 50
REPORT_TICKETS = 20
REPORT_CONSENTS = 20
SEARCH_LIMIT = 50
MAX_OPERATOR_CREDITS = 1_000_000  # one action; a typo of a few zeros is refused, not booked
STRIKE_WINDOW = timedelta(hours=24)
FRAUD_WARNING = "early_fraud_warning"  # recorded by the Stripe event handler, for operators to review
DISPUTED = ("disputed", "dispute_lost")


class UnknownIdentity(LookupError):
    pass


async def find_account(db: Database, who: str) -> int:
    """An account id from `platform:user_id`, or from a bare account number."""
    async with db.transaction() as session:
        if who.isdigit():
            number = whole_number(who)
            account = await accounts_repo.get(session, number) if number is not None else None
        else:
            platform, _, user_id = who.partition(":")
            account = await accounts_repo.find_by_identity(session, platform, user_id) if user_id else None
    if account is None:
        raise UnknownIdentity(who)
    return account.id


async def search(db: Database, query: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Accounts matching an identity (`telegram:777`), a number (an account, or a user id on any
    platform), an exact e-mail or part of a profile name; newest first."""
    query = query.strip()
    if not query:
        return []
    async with db.transaction() as session:
        found = await repo.search_accounts(session, query, limit)
        if not found:
            return []
        rows = {account.id: account for account in await repo.accounts(session, found)}
        identities = await repo.identities_of(session, found)
        names = {profile.account_id: profile.name for profile in await repo.profiles_of(session, found)}
    return [
        {
            "account_id": account_id,
            "identities": [
                f"{identity.platform}:{identity.platform_user_id}"
                for identity in identities
                if identity.account_id == account_id
            ],
            "name": names.get(account_id),
            "balance": rows[account_id].balance_subscription + rows[account_id].balance_one_time,
            "frozen": rows[account_id].frozen_reason is not None,
        }
        for account_id in found
    ]


async def report(db: Database, account_id: int) -> dict[str, Any]:
    """Everything that explains what the account can do and what happened to it."""
    now = utcnow()
    async with db.transaction() as session:
        identities = await accounts_repo.identities(session, account_id)
        balance = await credits.balance(session, account_id)
        jobs = await jobs_repo.recent(session, account_id, REPORT_JOBS)
        frozen = await payments_repo.frozen_reason(session, account_id)
        warnings = await support_repo.audit_events(session, account_id, FRAUD_WARNING)
        profile = await privacy_repo.profile(session, account_id)
        strikes_recent, strikes_total = await repo.strikes(session, account_id, now - STRIKE_WINDOW)
        subscription = await repo.subscription(session, account_id)
        payments = await repo.payments(session, account_id, REPORT_PAYMENTS)
        consents = await repo.consent_records(session, account_id, REPORT_CONSENTS)
        tickets = await repo.tickets_of(session, account_id, REPORT_TICKETS)
    return {
        "account_id": account_id,
        "identities": [f"{identity.platform}:{identity.platform_user_id}" for identity in identities],
        "balance": balance.as_dict(),
        "frozen": frozen,
        "legal_hold": profile.hold_reason if profile else None,
        "strikes": {"last_24h": strikes_recent, "total": strikes_total},
        "subscription": None
        if subscription is None
        else {
            "id": subscription.id,
            "plan": subscription.plan,
            "status": subscription.status,
            "current_period_end": _when(subscription.current_period_end),
            "cancel_at_period_end": subscription.cancel_at_period_end,
        },
        "payments": [_payment(payment) for payment in payments],
        "disputes": [_payment(payment) for payment in payments if payment.status in DISPUTED],
        "fraud_warnings": [_audit(event) for event in warnings],
        "profile": {
            "name": profile.name if profile else None,
            "email": profile.email if profile else None,
        },
        "consents": {
            "accepted_at": _when(profile.accepted_at) if profile else None,
            "terms_version": profile.terms_version if profile else None,
            "analytics": bool(profile and profile.analytics),
            "marketing": bool(profile and profile.marketing),
            "records": [
                {
                    "kind": record.kind,
                    "granted": record.granted,
                    "platform": record.platform,
                    "source": record.source,
                    "created_at": record.created_at.isoformat(),
                }
                for record in consents
            ],
        },
        "tickets": [
            {
                "id": ticket.id,
                "status": ticket.status,
                "created_at": ticket.created_at.isoformat(),
                "closed_at": _when(ticket.closed_at),
            }
            for ticket in tickets
        ],
        "jobs": [job_summary(job) for job in jobs],
    }


async def ledger(
    db: Database,
    account_id: int,
    *,
    kind: str | None = None,
    bucket: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The account's ledger entries (the newest `limit`, optionally of one kind or bucket), oldest first."""
    async with db.transaction() as session:
        entries = await repo.ledger(session, account_id, kind=kind, bucket=bucket, limit=limit)
    return [
        {
            "id": entry.id,
            "created_at": entry.created_at.isoformat(),
            "bucket": entry.bucket,
            "delta": entry.delta,
            "kind": entry.kind,
            "reference": entry.reference,
            "note": entry.note,
            "key": entry.idempotency_key,
        }
        for entry in reversed(entries)
    ]


async def grant(db: Database, account_id: int, amount: int, *, reason: str, actor: str) -> Balance:
    """One-time credits from an operator: a ledger entry with the reason, and an audit row."""
    _check_amount(amount, reason)
    async with db.transaction() as session:
        key = f"admin:{uuid.uuid4()}"
        await credits.grant(
            session, account_id, amount, kind=credits.EntryKind.ADMIN_GRANT, key=key, note=reason
        )
        await support_repo.audit(
            session,
            actor=actor,
            action="credits_granted",
            account_id=account_id,
            details={"credits": amount, "reason": reason, "key": key},
        )
        return await credits.balance(session, account_id)


async def deduct(db: Database, account_id: int, amount: int, *, reason: str, actor: str) -> Balance:
    """Takes credits back (a correction); refused whole (InsufficientCredits) rather than below zero."""
    _check_amount(amount, reason)
    async with db.transaction() as session:
        key = f"admin:{uuid.uuid4()}"
        balance = await credits.deduct(session, account_id, amount, key=key, note=reason)
        await support_repo.audit(
            session,
            actor=actor,
            action="credits_deducted",
            account_id=account_id,
            details={"credits": amount, "reason": reason, "key": key},
        )
    return balance


async def unfreeze(
    db: Database, account_id: int, *, reason: str, actor: str, default_language: str
) -> str | None:
    """Lifts a freeze (a lost dispute stays until this); returns what it was, None when not frozen.
    Audited with the actor and the reason; the owner is told in the chat of the payment."""
    async with db.transaction() as session:
        await credits.lock(session, account_id)
        was = await payments_repo.frozen_reason(session, account_id)
        if was is None:
            return None
        await payments_repo.set_frozen(session, account_id, None)
        await support_repo.audit(
            session,
            actor=actor,
            action="account_unfrozen",
            account_id=account_id,
            details={"was": was, "reason": reason},
        )
        disputed = await payments_repo.last_disputed(session, account_id)
        chat = await payments_repo.chat_of(session, disputed) if disputed else None
        if chat:
            account = await accounts_repo.get(session, account_id)
            t = Translator((account.language if account else None) or default_language)
            message = t("payment.unfrozen") + "\n" + t("payment.support_hint")
            await notifier.enqueue(
                session, ChatRef.parse(chat), [text(message)], key=f"unfrozen:{uuid.uuid4()}"
            )
    return was


async def reset_strikes(db: Database, account_id: int, *, actor: str) -> int:
    """Forgets the account's safety strikes (its cooldown ends); returns how many there were."""
    async with db.transaction() as session:
        await credits.lock(session, account_id)
        removed = await repo.delete_strikes(session, account_id)
        if removed:
            await support_repo.audit(
                session,
                actor=actor,
                action="strikes_reset",
                account_id=account_id,
                details={"removed": removed},
            )
    return removed


async def legal_holds(db: Database) -> list[dict[str, Any]]:
    """Every account under a legal hold, with the hold's reason."""
    async with db.transaction() as session:
        held = await repo.legal_holds(session)
    return [{"account_id": profile.account_id, "reason": profile.hold_reason} for profile in held]


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "size": f"{job.width}x{job.height}",
        "style": job.style,
        "model": job.model,
        "n": job.n,
        "cost": job.cost,
        "error": job.error_code,
        "error_ref": job.error_ref,
        "outputs": job.outputs,
        "created_at": job.created_at.isoformat(),
    }


def _check_amount(amount: int, reason: str) -> None:
    if not 0 < amount <= MAX_OPERATOR_CREDITS:
        raise ValueError(f"credits must be between 1 and {MAX_OPERATOR_CREDITS}")
    if not reason.strip():
        raise ValueError("a reason is required")


def _payment(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "provider": payment.provider,
        "reference": payment.reference,
        "kind": payment.kind,
        "item": payment.item,
        "credits": payment.credits,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "credits_reclaimed": payment.credits_reclaimed,
        "shortfall": payment.shortfall,
        "created_at": payment.created_at.isoformat(),
    }


def _audit(event: AuditEvent) -> dict[str, Any]:
    return {"created_at": event.created_at.isoformat(), **event.details}


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
