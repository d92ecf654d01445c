"""Operator tasks behind the CLI: look an account up, grant credits, read its ledger, lift a freeze."""

from __future__ import annotations

import getpass
import uuid
from typing import Any

from core import credits, notifier
from core.db.repositories import accounts as accounts_repo
from core.db.repositories import jobs as jobs_repo
from core.db.repositories import payments as payments_repo
from core.db.repositories import support as support_repo
from core.db.session import Database
from core.i18n import Translator
from core.messages import ChatRef, text

REPORT_JOBS = 20
FRAUD_WARNING = "early_fraud_warning"  # recorded by the Stripe event handler, for operators to review


class UnknownIdentity(LookupError):
    pass


async def find_account(db: Database, who: str) -> int:
    """An account id from `platform:user_id`, or from a bare account number."""
    async with db.transaction() as session:
        if who.isdigit():
            account = await accounts_repo.get(session, int(who))
        else:
            platform, _, user_id = who.partition(":")
            account = await accounts_repo.find_by_identity(session, platform, user_id) if user_id else None
    if account is None:
        raise UnknownIdentity(who)
    return account.id


async def grant(db: Database, account_id: int, amount: int, *, reason: str) -> credits.Balance:
    async with db.transaction() as session:
        await credits.grant(
            session,
            account_id,
            amount,
            kind=credits.EntryKind.ADMIN_GRANT,
            key=f"admin:{uuid.uuid4()}",
            note=reason,
        )
        return await credits.balance(session, account_id)


async def report(db: Database, account_id: int) -> dict[str, Any]:
    async with db.transaction() as session:
        identities = await accounts_repo.identities(session, account_id)
        balance = await credits.balance(session, account_id)
        jobs = await jobs_repo.recent(session, account_id, REPORT_JOBS)
        frozen = await payments_repo.frozen_reason(session, account_id)
        warnings = await support_repo.audit_events(session, account_id, FRAUD_WARNING)
    return {
        "account_id": account_id,
        "identities": [f"{identity.platform}:{identity.platform_user_id}" for identity in identities],
        "balance": balance.as_dict(),
        "frozen": frozen,
        "fraud_warnings": [
            {"created_at": event.created_at.isoformat(), **event.details} for event in warnings
        ],
        "jobs": [
            {
                "id": job.id,
                "status": job.status,
                "size": f"{job.width}x{job.height}",
                "style": job.style,
                "model": job.model,
                "n": job.n,
                "cost": job.cost,
                "error": job.error_code,
                "outputs": job.outputs,
                "created_at": job.created_at.isoformat(),
            }
            for job in jobs
        ],
    }


async def ledger(db: Database, account_id: int) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        entries = await credits.all_entries(session, account_id)
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


async def unfreeze(db: Database, account_id: int, *, reason: str, default_language: str) -> str | None:
    """Lifts a freeze (a lost dispute stays until this); returns what it was, None when not frozen.
    Audited with the operator's login and the reason; the owner is told in the chat of the payment."""
    async with db.transaction() as session:
        await credits.lock(session, account_id)
        was = await payments_repo.frozen_reason(session, account_id)
        if was is None:
            return None
        await payments_repo.set_frozen(session, account_id, None)
        await support_repo.audit(
            session,
            actor=f"operator:{getpass.getuser()}",
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
