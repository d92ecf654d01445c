"""Where to point a person whose private chat refuses the bot: the group they asked from."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import NoticePointer
from core.db.types import utcnow


async def remember(
    session: AsyncSession, *, chat: str, account_id: int, origin: str, language: str, name: str | None
) -> None:
    """Records (or moves to the latest group) the pointer for the private chat `chat`."""
    values = {"account_id": account_id, "origin": origin, "language": language, "name": name}
    changed = await session.execute(
        update(NoticePointer).where(NoticePointer.chat == chat).values(**values, updated_at=utcnow())
    )
    if changed.rowcount:  # type: ignore[attr-defined]
        return
    try:
        async with session.begin_nested():  # another request from the same person may be adding it
            session.add(NoticePointer(chat=chat, **values))
    except IntegrityError:
        pass


async def of(session: AsyncSession, chat: str) -> NoticePointer | None:
    return await session.scalar(select(NoticePointer).where(NoticePointer.chat == chat))
