"""The delivery outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Delivery

PENDING, SENT, GIVEN_UP = "pending", "sent", "given_up"


async def add(session: AsyncSession, *, key: str, chat: str, payload: dict[str, Any]) -> bool:
    """Queues one reply; False when a delivery with this key was already queued."""
    if await session.scalar(select(Delivery.id).where(Delivery.key == key)) is not None:
        return False
    session.add(Delivery(key=key, chat=chat, payload=payload, status=PENDING))
    await session.flush()
    return True


async def pending(session: AsyncSession, limit: int) -> list[Delivery]:
    """The oldest undelivered replies, due or waiting on a backoff, in the order they were queued."""
    result = await session.scalars(
        select(Delivery).where(Delivery.status == PENDING).order_by(Delivery.id).limit(limit)
    )
    return list(result)


async def mark_sent(session: AsyncSession, delivery_id: int, now: datetime) -> None:
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(status=SENT, sent_at=now))


async def mark_failed(
    session: AsyncSession, delivery_id: int, *, attempts: int, next_attempt_at: datetime, give_up: bool
) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            status=GIVEN_UP if give_up else PENDING,
        )
    )


async def give_up_chat(session: AsyncSession, chat: str) -> None:
    await session.execute(
        update(Delivery).where(Delivery.chat == chat, Delivery.status == PENDING).values(status=GIVEN_UP)
    )
