"""The bulk queries of privacy: an account's rows for its export, its erasure in small batches, and
merging two accounts. Erasure steps each touch a bounded number of rows, so that each can be its own
short transaction (core.privacy.erase)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, and_, cast, delete, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.db.models import (
    Account,
    AccountQueue,
    AnalyticsEvent,
    AuditEvent,
    Base,
    Checkout,
    CodeFailure,
    ConsentRecord,
    Delivery,
    ExportFile,
    Identity,
    InviteCode,
    Job,
    JobReference,
    LinkFailure,
    NoticePointer,
    Payment,
    PrivacyCode,
    PrivacyProfile,
    SafetyStrike,
    StatusBoard,
    StripeEvent,
    Subscription,
    SupportMessage,
    SupportTicket,
    UnreachableChat,
)
from core.db.repositories import abuse, groups
from core.db.statuses import ACTIVE_JOBS

CHUNK = 200  # values per IN list or OR of ranges
# Every table whose rows `erase_rows` deletes or rewrites: on PostgreSQL their old row versions are
# vacuumed away afterwards (core.privacy.vacuum).
ERASED_TABLES: tuple[type[Base], ...] = (
    Delivery,
    UnreachableChat,
    SupportMessage,
    SupportTicket,
    Job,
    JobReference,
    AccountQueue,
    SafetyStrike,
    AnalyticsEvent,
    ConsentRecord,
    PrivacyCode,
    ExportFile,
    PrivacyProfile,
    NoticePointer,
    Identity,
    LinkFailure,
    Account,
    AuditEvent,
    Payment,
    Checkout,
    Subscription,
    StripeEvent,
    InviteCode,
    CodeFailure,
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
    NoticePointer,
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


@dataclass(frozen=True, slots=True)
class JobFiles:
    """What names a job's files: its number, image count, recorded outputs and references."""

    id: int
    n: int
    outputs: list[str]
    references: list[str]


async def jobs_of(session: AsyncSession, account_id: int) -> list[Job]:
    return list(await session.scalars(select(Job).where(Job.account_id == account_id).order_by(Job.id)))


async def active_jobs(session: AsyncSession, account_id: int) -> list[Job]:
    """The account's queued and running jobs (few: the queue is bounded per account)."""
    query = select(Job).where(Job.status.in_(ACTIVE_JOBS), Job.account_id == account_id).order_by(Job.id)
    return list(await session.scalars(query))


async def paying_wallets(session: AsyncSession, account_id: int) -> set[int]:
    """The group wallets paying for the account's queued and running jobs: their refunds go back there."""
    query = select(Job.wallet_id).where(
        Job.status.in_(ACTIVE_JOBS), Job.account_id == account_id, Job.wallet_id.is_not(None)
    )
    return {wallet for wallet in await session.scalars(query) if wallet is not None}


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
        (InviteCode.chat, InviteCode.account_id),
    ):
        query = select(column).where(owner == account_id).distinct()
        chats.update(chat for chat in await session.scalars(query) if chat)
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


async def events_naming(session: AsyncSession, needles: set[str]) -> list[str]:
    """Handled Stripe events whose payload mentions one of `needles`: a scan of their text, so it runs
    in a read, and `blank_events` rewrites the ones found by their key."""
    found: set[str] = set()
    payload = cast(StripeEvent.payload, Text)
    for chunk in _chunks(sorted(needles)):
        query = select(StripeEvent.id).where(
            StripeEvent.handled_at.is_not(None),
            or_(*(payload.contains(needle, autoescape=True) for needle in chunk)),
        )
        found.update(await session.scalars(query))
    return sorted(found)


async def blank_events(session: AsyncSession, event_ids: Sequence[str]) -> None:
    for chunk in _chunks(event_ids):
        await session.execute(
            update(StripeEvent).where(StripeEvent.id.in_(chunk)).values(payload={"erased": True})
        )


async def next_jobs(session: AsyncSession, account_id: int, limit: int) -> list[JobFiles]:
    """Up to `limit` of the account's jobs, oldest first (the erased ones are gone: no watermark)."""
    rows = await session.execute(
        select(Job.id, Job.n, Job.outputs, Job.references)
        .where(Job.account_id == account_id)
        .order_by(Job.id)
        .limit(limit)
    )
    return [
        JobFiles(id, n, list(outputs or ()), list(references or ())) for id, n, outputs, references in rows
    ]


async def delete_jobs(session: AsyncSession, job_ids: Sequence[int]) -> None:
    """The jobs and their outbox messages (keyed `job:<id>:...`); their references go with them."""
    await delete_job_deliveries(session, job_ids)
    await session.execute(delete(Job).where(Job.id.in_(list(job_ids))))


async def delete_job_deliveries(session: AsyncSession, job_ids: Sequence[int]) -> None:
    """The outbox messages about these jobs (keyed `job:<id>:...`), through the key's index."""
    await _delete_keyed(session, [f"job:{job_id}:" for job_id in job_ids])


async def delete_some(session: AsyncSession, model: type[Base], account_id: int, limit: int) -> int:
    """Up to `limit` rows of `model` that belong to the account; how many went."""
    column = model.account_id  # type: ignore[attr-defined]
    some = select(model.id).where(column == account_id).limit(limit)  # type: ignore[attr-defined]
    result = await session.execute(delete(model).where(model.id.in_(some)))  # type: ignore[attr-defined]
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_deliveries_to(session: AsyncSession, chats: Sequence[str], limit: int) -> int:
    """Up to `limit` outbox messages to these chats (indexed by chat); how many went."""
    some = select(Delivery.id).where(Delivery.chat.in_(list(chats))).limit(limit)
    result = await session.execute(delete(Delivery).where(Delivery.id.in_(some)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def erase_rest(
    session: AsyncSession, account_id: int, *, chats: set[str], identities: set[str]
) -> None:
    """What is left once the jobs and the long per-account tables are gone: a handful of rows per
    account. Deletes what names or describes the person; keeps ledger, holds, payments
    (pseudonymised)."""
    tickets = list(
        await session.scalars(select(SupportTicket.id).where(SupportTicket.account_id == account_id))
    )
    messages = list(
        await session.scalars(select(SupportMessage.id).where(SupportMessage.ticket_id.in_(tickets)))
    )
    keys = [f"support:{message_id}:" for message_id in messages]
    keys += [f"support:reply:{message_id}:" for message_id in messages]
    keys += [f"support:close:{ticket_id}:" for ticket_id in tickets]
    keys += [f"support:credit:{ticket_id}:" for ticket_id in tickets]
    await _delete_keyed(session, keys)
    for chunk in _chunks(sorted(chats)):
        await session.execute(delete(UnreachableChat).where(UnreachableChat.chat.in_(chunk)))
        await session.execute(delete(StatusBoard).where(StatusBoard.chat.in_(chunk)))  # jobs' states
    await session.execute(delete(SupportMessage).where(SupportMessage.ticket_id.in_(tickets)))
    await session.execute(delete(SupportTicket).where(SupportTicket.account_id == account_id))
    await session.execute(delete(InviteCode).where(InviteCode.account_id == account_id))  # and its chat
    await session.execute(delete(CodeFailure).where(CodeFailure.account_id == account_id))
    await session.execute(delete(PrivacyProfile).where(PrivacyProfile.account_id == account_id))
    await session.execute(delete(NoticePointer).where(NoticePointer.account_id == account_id))
    await session.execute(delete(AccountQueue).where(AccountQueue.account_id == account_id))  # when served
    await session.execute(delete(Identity).where(Identity.account_id == account_id))
    await groups.unlink_member(session, account_id)
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


async def _delete_keyed(session: AsyncSession, prefixes: Sequence[str]) -> None:
    """Outbox messages whose key starts with one of `prefixes`, as ranges of the unique key's index
    (`key >= 'job:7:' AND key < 'job:7;'`): a LIKE would read every row. Exact where the key
    column sorts by code point (SQLite; PostgreSQL in the C collation)."""
    for chunk in _chunks(prefixes):
        ranges = [and_(Delivery.key >= prefix, Delivery.key < _successor(prefix)) for prefix in chunk]
        await session.execute(delete(Delivery).where(or_(*ranges)))


def _successor(prefix: str) -> str:
    """The first string after every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


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
