"""The audit log: who did what to which account, read back with filters."""

from __future__ import annotations

from typing import Any

from core.db.repositories import operations as repo
from core.db.repositories import support as support_repo
from core.db.session import Database

PAGE = 100


async def entries(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    account_id: int | None = None,
    before_id: int | None = None,
    limit: int = PAGE,
) -> list[dict[str, Any]]:
    """Newest first; `before_id` pages back from an entry."""
    async with db.transaction() as session:
        events = await repo.audit_entries(
            session, actor=actor, action=action, account_id=account_id, before_id=before_id, limit=limit
        )
    return [
        {
            "id": event.id,
            "created_at": event.created_at.isoformat(),
            "actor": event.actor,
            "action": event.action,
            "account_id": event.account_id,
            "details": event.details,
        }
        for event in events
    ]


async def record(
    db: Database, *, actor: str, action: str, account_id: int | None, details: dict[str, Any]
) -> None:
    """Writes one entry of its own (what an operator did outside the actions that audit themselves)."""
    async with db.transaction() as session:
        await support_repo.audit(session, actor=actor, action=action, account_id=account_id, details=details)


async def actions(db: Database) -> list[str]:
    """Every kind of action the log holds, for a filter."""
    async with db.transaction() as session:
        return await repo.audit_actions(session)
