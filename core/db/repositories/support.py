"""Support tickets, their threads, and the audit trail of what staff did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import AuditEvent, Operator, SupportMessage, SupportTicket

OPEN, CLOSED = "open", "closed"


async def open_ticket(session: AsyncSession, account_id: int) -> SupportTicket | None:
    return await session.scalar(
        select(SupportTicket)
        .where(SupportTicket.account_id == account_id, SupportTicket.status == OPEN)
        .order_by(SupportTicket.id.desc())
        .limit(1)
    )


async def create(session: AsyncSession, **fields: Any) -> SupportTicket:
    ticket = SupportTicket(status=OPEN, **fields)
    session.add(ticket)
    await session.flush()
    return ticket


async def get(session: AsyncSession, ticket_id: int) -> SupportTicket | None:
    return await session.get(SupportTicket, ticket_id)


async def by_job(session: AsyncSession, job_id: int) -> SupportTicket | None:
    """The ticket that reports the job, whatever its status."""
    return await session.scalar(select(SupportTicket).where(SupportTicket.job_id == job_id))


async def add_message(session: AsyncSession, ticket_id: int, author: str, body: str) -> SupportMessage:
    message = SupportMessage(ticket_id=ticket_id, author=author, body=body)
    session.add(message)
    await session.flush()
    return message


async def thread(session: AsyncSession, ticket_id: int) -> list[SupportMessage]:
    result = await session.scalars(
        select(SupportMessage).where(SupportMessage.ticket_id == ticket_id).order_by(SupportMessage.id)
    )
    return list(result)


async def inbox(
    session: AsyncSession, *, status: str | None, limit: int
) -> list[tuple[SupportTicket, SupportMessage]]:
    """Tickets with their newest message, the one written to last first."""
    newest = (
        select(SupportMessage.ticket_id, func.max(SupportMessage.id).label("last_id"))
        .group_by(SupportMessage.ticket_id)
        .subquery()
    )
    statement = (
        select(SupportTicket, SupportMessage)
        .join(newest, newest.c.ticket_id == SupportTicket.id)
        .join(SupportMessage, SupportMessage.id == newest.c.last_id)
    )
    if status:
        statement = statement.where(SupportTicket.status == status)
    rows = await session.execute(statement.order_by(SupportMessage.id.desc()).limit(limit))
    return [(ticket, message) for ticket, message in rows]


async def has_operators(session: AsyncSession) -> bool:
    """Whether the web admin has anyone who can sign in."""
    found = await session.scalar(select(Operator.id).where(Operator.disabled_at.is_(None)).limit(1))
    return found is not None


async def close(session: AsyncSession, ticket_id: int, now: datetime) -> bool:
    """False when the ticket was already closed."""
    result = await session.execute(
        update(SupportTicket)
        .where(SupportTicket.id == ticket_id, SupportTicket.status == OPEN)
        .values(status=CLOSED, closed_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def audit(
    session: AsyncSession, *, actor: str, action: str, account_id: int | None, details: dict[str, Any]
) -> None:
    session.add(AuditEvent(actor=actor, action=action, account_id=account_id, details=details))
    await session.flush()


async def audit_events(
    session: AsyncSession, account_id: int, action: str, limit: int = 20
) -> list[AuditEvent]:
    """The account's newest audit events of one kind."""
    result = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.account_id == account_id, AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(result)
