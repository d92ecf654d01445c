"""What operators look up: accounts by who they are, an account's whole picture, jobs by error
reference or cause, and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import (
    Account,
    AuditEvent,
    ConsentRecord,
    Identity,
    Job,
    LedgerEntry,
    Payment,
    PrivacyProfile,
    SafetyStrike,
    Subscription,
    SupportTicket,
)
from core.db.statuses import JobStatus

ACCOUNT_ID_DIGITS = 9


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_accounts(session: AsyncSession, query: str, limit: int) -> list[int]:
    """Accounts matching `query`, newest first: an identity `platform:id`, a bare number (an account id
    or any platform's user id), an exact e-mail, or part of a profile name."""
    platform, colon, user_id = query.partition(":")
    if colon and platform and user_id:
        condition = Account.id.in_(
            select(Identity.account_id).where(
                Identity.platform == platform.lower(), Identity.platform_user_id == user_id
            )
        )
    elif query.isdigit():
        by_identity = Account.id.in_(select(Identity.account_id).where(Identity.platform_user_id == query))
        # an account id too, when it is one (ASCII, and within the column's range)
        is_id = query.isascii() and len(query) <= ACCOUNT_ID_DIGITS
        condition = or_(Account.id == int(query), by_identity) if is_id else by_identity
    elif "@" in query:
        by_email = select(PrivacyProfile.account_id).where(func.lower(PrivacyProfile.email) == query.lower())
        condition = Account.id.in_(by_email)
    else:
        by_name = select(PrivacyProfile.account_id).where(
            PrivacyProfile.name.ilike(_like(query), escape="\\")
        )
        condition = Account.id.in_(by_name)
    result = await session.scalars(
        select(Account.id).where(condition).order_by(Account.id.desc()).limit(limit)
    )
    return list(result)


async def accounts(session: AsyncSession, account_ids: list[int]) -> list[Account]:
    result = await session.scalars(select(Account).where(Account.id.in_(account_ids)))
    return list(result)


async def identities_of(session: AsyncSession, account_ids: list[int]) -> list[Identity]:
    result = await session.scalars(
        select(Identity).where(Identity.account_id.in_(account_ids)).order_by(Identity.id)
    )
    return list(result)


async def profiles_of(session: AsyncSession, account_ids: list[int]) -> list[PrivacyProfile]:
    result = await session.scalars(select(PrivacyProfile).where(PrivacyProfile.account_id.in_(account_ids)))
    return list(result)


async def strikes(session: AsyncSession, account_id: int, since: datetime) -> tuple[int, int]:
    """(strikes since `since`, strikes in all)."""
    recent = func.count().filter(SafetyStrike.created_at >= since)
    row = (
        await session.execute(
            select(recent, func.count())
            .select_from(SafetyStrike)
            .where(SafetyStrike.account_id == account_id)
        )
    ).one()
    return int(row[0]), int(row[1])


async def delete_strikes(session: AsyncSession, account_id: int) -> int:
    result = await session.execute(delete(SafetyStrike).where(SafetyStrike.account_id == account_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def subscription(session: AsyncSession, account_id: int) -> Subscription | None:
    return await session.scalar(
        select(Subscription)
        .where(Subscription.account_id == account_id)
        .order_by(Subscription.updated_at.desc())
        .limit(1)
    )


async def payments(session: AsyncSession, account_id: int, limit: int) -> list[Payment]:
    result = await session.scalars(
        select(Payment).where(Payment.account_id == account_id).order_by(Payment.id.desc()).limit(limit)
    )
    return list(result)


async def consent_records(session: AsyncSession, account_id: int, limit: int) -> list[ConsentRecord]:
    result = await session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.account_id == account_id)
        .order_by(ConsentRecord.id.desc())
        .limit(limit)
    )
    return list(result)


async def tickets_of(session: AsyncSession, account_id: int, limit: int) -> list[SupportTicket]:
    result = await session.scalars(
        select(SupportTicket)
        .where(SupportTicket.account_id == account_id)
        .order_by(SupportTicket.id.desc())
        .limit(limit)
    )
    return list(result)


async def ledger(
    session: AsyncSession, account_id: int, *, kind: str | None, bucket: str | None, limit: int | None
) -> list[LedgerEntry]:
    """The account's entries, newest first, optionally of one kind or bucket."""
    statement = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if kind:
        statement = statement.where(LedgerEntry.kind == kind)
    if bucket:
        statement = statement.where(LedgerEntry.bucket == bucket)
    result = await session.scalars(statement.order_by(LedgerEntry.id.desc()).limit(limit))
    return list(result)


async def job_by_reference(session: AsyncSession, ref: str) -> Job | None:
    return await session.scalar(select(Job).where(Job.error_ref == ref).limit(1))


async def failed_jobs(session: AsyncSession, *, since: datetime, cause: str | None, limit: int) -> list[Job]:
    statement = select(Job).where(Job.finished_at >= since, Job.status == JobStatus.FAILED)
    if cause:
        statement = statement.where(Job.error_code == cause)
    result = await session.scalars(statement.order_by(Job.finished_at.desc()).limit(limit))
    return list(result)


async def failure_causes(session: AsyncSession, *, since: datetime) -> dict[str, int]:
    rows = await session.execute(
        select(Job.error_code, func.count())
        .where(Job.finished_at >= since, Job.status == JobStatus.FAILED)
        .group_by(Job.error_code)
    )
    return {code or "unknown": int(count) for code, count in rows}


async def audit_entries(
    session: AsyncSession,
    *,
    actor: str | None,
    action: str | None,
    account_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[AuditEvent]:
    statement = select(AuditEvent)
    if actor:
        statement = statement.where(AuditEvent.actor == actor)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if account_id is not None:
        statement = statement.where(AuditEvent.account_id == account_id)
    if before_id is not None:
        statement = statement.where(AuditEvent.id < before_id)
    result = await session.scalars(statement.order_by(AuditEvent.id.desc()).limit(limit))
    return list(result)


async def audit_actions(session: AsyncSession) -> list[str]:
    result = await session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    return list(result)


async def legal_holds(session: AsyncSession) -> list[PrivacyProfile]:
    result = await session.scalars(
        select(PrivacyProfile)
        .where(PrivacyProfile.hold_reason.is_not(None))
        .order_by(PrivacyProfile.account_id)
    )
    return list(result)
