"""Chats that cannot be delivered to any more."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import UnreachableChat
from core.db.repositories import deliveries


async def all_unreachable(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(UnreachableChat.chat)))


async def mark_unreachable(session: AsyncSession, chat: str) -> None:
    """Records the chat (once) and gives up every reply still waiting for it."""
    if await session.get(UnreachableChat, chat) is None:
        session.add(UnreachableChat(chat=chat))
        await session.flush()
    await deliveries.give_up_chat(session, chat)


async def mark_reachable(session: AsyncSession, chat: str) -> None:
    await session.execute(delete(UnreachableChat).where(UnreachableChat.chat == chat))
