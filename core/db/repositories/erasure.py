"""The bulk queries of privacy: an account's rows for its export, its erasure, merging two accounts,
and the retention purge."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.db.models import (
    Account,
    AnalyticsEvent,
    AuditEvent,
    Base,
    Checkout,
    ConsentRecord,
    Delivery,
    ExportFile,
    Identity,
    Job,
    LinkFailure,
    Payment,
    PrivacyCode,
    PrivacyProfile,
    SafetyStrike,
    StripeEvent,
    Subscription,
    SupportMessage,
    SupportTicket,
    UnreachableChat,
)
from core.db.repositories import abuse
from core.db.statuses import ACTIVE_JOBS, DeliveryStatus, JobStatus

CHUNK = 200
# Every table whose rows `erase_rows` deletes or rewrites: on PostgreSQL their old row versions are
# vacuumed away afterwards (core.privacy.vacuum).
ERASED_TABLES: tuple[type[Base], ...] = (
    Delivery,
    UnreachableChat,
    SupportMessage,
    SupportTicket,
    Job,
    SafetyStrike,
    AnalyticsEvent,
    ConsentRecord,
    PrivacyCode,
    ExportFile,
    PrivacyProfile,
    Identity,
    LinkFailure,
    Account,
    AuditEvent,
    Payment,
    Checkout,
    Subscription,
    StripeEvent,
)
MOVED_BY_LINK: tuple[Any, ...] = (
    Identity,
    Job,
    SupportTicket,
    SafetyStrike,
    Payment,
    Subscription,
    Checkout,
    AnalyticsEvent,
    ConsentRecord,
    ExportFile,
)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def rows_of(session: AsyncSession, model: type[Base], account_ids: Sequence[int]) -> list[Any]:
    """Every row of `model` that belongs to these accounts, oldest first."""
    column = model.account_id  # type: ignore[attr-defined]
    order = getattr(model, "id", column)
    return list(await session.scalars(select(model).where(column.in_(list(account_ids))).order_by(order)))


async def ticket_messages(session: AsyncSession, ticket_ids: Sequence[int]) -> list[SupportMessage]:
    result = await session.scalars(
        select(SupportMessage)
        .where(SupportMessage.ticket_id.in_(list(ticket_ids)))
        .order_by(SupportMessage.id)
    )
    return list(result)


async def jobs_of(session: AsyncSession, account_id: int) -> list[Job]:
    return list(await session.scalars(select(Job).where(Job.account_id == account_id).order_by(Job.id)))


async def uploads_used_by_others(session: AsyncSession, account_id: int, paths: set[str]) -> set[str]:
    """Which of these stored references another account's jobs use too (uploads are shared by content)."""
    if not paths:
        return set()
    used: set[str] = set()
    for references in await session.scalars(select(Job.references).where(Job.account_id != account_id)):
        used.update(path for path in references or () if path in paths)
    return used


async def chats_of(session: AsyncSession, account_id: int) -> set[str]:
    """Every chat the account wrote from that the database remembers."""
    chats: set[str] = set()
    for column, owner in (
        (Job.chat, Job.account_id),
        (SupportTicket.chat, SupportTicket.account_id),
        (PrivacyProfile.direct_chat, PrivacyProfile.account_id),
        (Payment.chat, Payment.account_id),
        (Subscription.chat, Subscription.account_id),
        (Checkout.chat, Checkout.account_id),
    ):
        chats.update(
            chat for chat in await session.scalars(select(column).where(owner == account_id)) if chat
        )
    return chats


async def stripe_references(session: AsyncSession, account_id: int) -> set[str]:
    """The ids Stripe's stored events would mention this account's purchases by."""
    needles: set[str] = set(
        await session.scalars(select(Checkout.id).where(Checkout.account_id == account_id))
    )
    needles.update(
        await session.scalars(select(Subscription.id).where(Subscription.account_id == account_id))
    )
    for reference, intent in (
        await session.execute(
            select(Payment.reference, Payment.payment_intent).where(Payment.account_id == account_id)
        )
    ).all():
        needles.update(value for value in (reference, intent) if value)
    return needles


async def erase_rows(
    session: AsyncSession,
    account_id: int,
    *,
    job_ids: Sequence[int],
    chats: set[str],
    identities: set[str],
    stripe_needles: set[str],
) -> None:
    """Deletes what names or describes the person; keeps ledger, holds, payments (pseudonymised)."""
    tickets = list(
        await session.scalars(select(SupportTicket.id).where(SupportTicket.account_id == account_id))
    )
    messages = list(
        await session.scalars(select(SupportMessage.id).where(SupportMessage.ticket_id.in_(tickets)))
    )
    keys = [f"job:{job_id}:" for job_id in job_ids]
    keys += [f"support:{message_id}:" for message_id in messages]
    keys += [f"support:reply:{message_id}:" for message_id in messages]
    keys += [f"support:close:{ticket_id}:" for ticket_id in tickets] + [
        f"support:credit:{t}:" for t in tickets
    ]
    for chunk in _chunks(keys):
        await session.execute(delete(Delivery).where(or_(*(Delivery.key.startswith(key) for key in chunk))))
    for chunk in _chunks(sorted(chats)):
        await session.execute(delete(Delivery).where(Delivery.chat.in_(chunk)))
        await session.execute(delete(UnreachableChat).where(UnreachableChat.chat.in_(chunk)))
    await session.execute(delete(SupportMessage).where(SupportMessage.ticket_id.in_(tickets)))
    for model in (SupportTicket, Job, SafetyStrike, AnalyticsEvent, ConsentRecord, PrivacyCode, ExportFile):
        await session.execute(delete(model).where(model.account_id == account_id))
    await session.execute(delete(PrivacyProfile).where(PrivacyProfile.account_id == account_id))
    await session.execute(delete(Identity).where(Identity.account_id == account_id))
    await abuse.forget_link_failures(session, identities)
    await session.execute(
        update(Account).where(Account.id == account_id).values(language=None, preferences={})
    )
    await session.execute(update(AuditEvent).where(AuditEvent.account_id == account_id).values(details={}))
    if identities:
        await session.execute(
            update(AuditEvent).where(AuditEvent.actor.in_(sorted(identities))).values(actor="erased")
        )
    await session.execute(
        update(Payment).where(Payment.account_id == account_id).values(chat=None, receipt_url=None)
    )
    await session.execute(update(Checkout).where(Checkout.account_id == account_id).values(chat=None))
    await session.execute(update(Subscription).where(Subscription.account_id == account_id).values(chat=None))
    for chunk in _chunks(sorted(stripe_needles)):
        payload = cast(StripeEvent.payload, Text)
        await session.execute(
            update(StripeEvent)
            .where(
                StripeEvent.handled_at.is_not(None),
                or_(*(payload.contains(needle, autoescape=True) for needle in chunk)),
            )
            .values(payload={"erased": True})
        )


async def vacuum(engine: AsyncEngine, tables: Sequence[str]) -> None:
    """PostgreSQL: a plain VACUUM of each table, outside any transaction (VACUUM cannot run in one).

    INDEX_CLEANUP ON: with few dead rows PostgreSQL would skip the indexes, whose entries repeat the
    erased values (an identity, a chat)."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        quote = connection.dialect.identifier_preparer.quote
        for table in tables:
            await autocommit.execute(text(f"VACUUM (INDEX_CLEANUP ON) {quote(table)}"))


async def move_account_rows(session: AsyncSession, source: int, target: int) -> None:
    """`/link`: everything of `source` that follows the person now belongs to `target`."""
    for model in MOVED_BY_LINK:
        await session.execute(
            update(model)
            .where(model.account_id == source)
            .values(account_id=target)
            .execution_options(synchronize_session=False)
        )
    await session.execute(delete(PrivacyCode).where(PrivacyCode.account_id == source))


# --- retention -------------------------------------------------------------------------------------


async def finished_before(session: AsyncSession, cutoff: datetime, held: set[int]) -> list[Job]:
    """Finished jobs of accounts without a legal hold, older than `cutoff`."""
    query = select(Job).where(Job.finished_at.is_not(None), Job.finished_at < cutoff)
    if held:
        query = query.where(Job.account_id.not_in(sorted(held)))
    return list(await session.scalars(query))


async def references_in_use(session: AsyncSession, cutoff: datetime, held: set[int]) -> set[str]:
    """Stored references still needed: by recent or unfinished jobs, or by accounts under a legal hold."""
    conditions = [Job.created_at >= cutoff, Job.status.in_(ACTIVE_JOBS)]
    if held:
        conditions.append(Job.account_id.in_(sorted(held)))
    used: set[str] = set()
    for references in await session.scalars(select(Job.references).where(or_(*conditions))):
        used.update(references or ())
    return used


async def blank_failed_prompts(session: AsyncSession, cutoff: datetime, held: set[int]) -> int:
    query = (
        update(Job)
        .where(
            Job.status.in_([JobStatus.FAILED, JobStatus.CANCELLED]),
            Job.finished_at < cutoff,
            or_(Job.prompt != "", Job.provider_prompt != ""),
        )
        .values(prompt="", provider_prompt="", error_ref=None)
        .execution_options(synchronize_session=False)
    )
    if held:
        query = query.where(Job.account_id.not_in(sorted(held)))
    return int((await session.execute(query)).rowcount or 0)  # type: ignore[attr-defined]


async def delete_closed_tickets(session: AsyncSession, cutoff: datetime, held: set[int]) -> int:
    query = select(SupportTicket.id).where(
        SupportTicket.closed_at.is_not(None), SupportTicket.closed_at < cutoff
    )
    if held:
        query = query.where(SupportTicket.account_id.not_in(sorted(held)))
    tickets = list(await session.scalars(query))
    for chunk in _chunks(tickets):
        await session.execute(delete(SupportMessage).where(SupportMessage.ticket_id.in_(chunk)))
        await session.execute(delete(SupportTicket).where(SupportTicket.id.in_(chunk)))
    return len(tickets)


async def delete_delivered(session: AsyncSession, before: datetime) -> int:
    """Outbox rows already sent, given up or expired: their payloads repeat prompts and captions."""
    done = [DeliveryStatus.SENT, DeliveryStatus.GIVEN_UP, DeliveryStatus.EXPIRED]
    result = await session.execute(
        delete(Delivery).where(Delivery.status.in_(done), Delivery.created_at < before)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def existing_jobs(session: AsyncSession, job_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(list(job_ids)):
        found.update(await session.scalars(select(Job.id).where(Job.id.in_(chunk))))
    return found
