"""Each chat's status message as every process sees it (`core.status_boards`)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import upsert
from core.db.models import Job, StatusBoard
from core.db.statuses import ACTIVE_JOBS


async def active_jobs(session: AsyncSession, jobs: Collection[int]) -> set[int]:
    """Those of `jobs` still queued or running: late news of the others is not shown."""
    query = select(Job.id).where(Job.id.in_(list(jobs)), Job.status.in_(ACTIVE_JOBS))
    return set(await session.scalars(query))


async def locked(session: AsyncSession, chat: str) -> StatusBoard | None:
    """The chat's board, locked until the transaction ends (SQLite's writers take turns anyway)."""
    query = select(StatusBoard).where(StatusBoard.chat == chat).with_for_update()
    return (await session.scalars(query)).one_or_none()


async def locked_or_new(session: AsyncSession, chat: str) -> StatusBoard:
    """The chat's board, created empty if it has none; processes creating it at once get the same row."""
    board = await locked(session, chat)
    if board is not None:
        return board
    await session.execute(
        upsert.insert(session, StatusBoard)
        .values(chat=chat, shows_photo=False, lines=[], version=0, shown=0)
        .on_conflict_do_nothing(index_elements=["chat"])
    )
    board = await locked(session, chat)
    assert board is not None
    return board


async def remove(session: AsyncSession, board: StatusBoard) -> None:
    await session.delete(board)
