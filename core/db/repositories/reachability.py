"""Chats that cannot be delivered to any more."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import UnreachableChat
from core.db.repositories import deliveries


async def all_unreachable(session: AsyncSession) -> dict[str, bool]:
    """Each unreachable chat, with whether its waiting replies are kept for when it is reachable again."""
    rows = await session.execute(select(UnreachableChat.chat, UnreachableChat.keep_pending))
    return {chat: keep for chat, keep in rows.all()}


async def mark_unreachable(session: AsyncSession, chat: str, *, keep_pending: bool) -> None:
    """Records the chat (once); unless told to keep them, gives up every reply still waiting for it."""
    changed = await session.execute(
        update(UnreachableChat).where(UnreachableChat.chat == chat).values(keep_pending=keep_pending)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        try:
            async with session.begin_nested():  # another refusal may be recording the same chat
                session.add(UnreachableChat(chat=chat, keep_pending=keep_pending))
        except IntegrityError:
            pass
    if not keep_pending:
        await deliveries.give_up_chat(session, chat)


async def mark_reachable(session: AsyncSession, chat: str) -> None:
    await session.execute(delete(UnreachableChat).where(UnreachableChat.chat == chat))
