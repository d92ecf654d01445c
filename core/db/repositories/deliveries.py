"""The delivery outbox, shared by every process that can send to a platform."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import locks
from core.db.models import Delivery

PENDING, SENT, GIVEN_UP, EXPIRED = "pending", "sent", "given_up", "expired"


async def add(
    session: AsyncSession,
    *,
    key: str,
    chat: str,
    payload: dict[str, Any],
    expires_at: datetime | None = None,
) -> bool:
    """Queues one reply; False when a delivery with this key was already queued."""
    if await session.scalar(select(Delivery.id).where(Delivery.key == key)) is not None:
        return False
    session.add(Delivery(key=key, chat=chat, payload=payload, status=PENDING, expires_at=expires_at))
    await session.flush()
    return True


async def claim(
    session: AsyncSession,
    *,
    owner: str,
    platforms: Iterable[str],
    now: datetime,
    until: datetime,
    limit: int,
) -> list[Delivery]:
    """The oldest undelivered replies for `platforms`, due or waiting on a backoff, in the order they
    were queued, claimed for `owner` until `until`.

    A chat another process is sending to is left alone entirely, so each chat gets its replies in
    order; claims are serialized so two processes never take the same chat.
    """
    platform_filter = [Delivery.chat.startswith(f"{platform}:", autoescape=True) for platform in platforms]
    if not platform_filter:
        return []
    await locks.serialize(session, "outbox-claims")
    busy_elsewhere = select(Delivery.chat).where(
        Delivery.status == PENDING, Delivery.claimed_by != owner, Delivery.claimed_until > now
    )
    waiting = list(
        await session.scalars(
            select(Delivery)
            .where(Delivery.status == PENDING, or_(*platform_filter), Delivery.chat.not_in(busy_elsewhere))
            .order_by(Delivery.id)
            .limit(limit)
        )
    )
    if waiting:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_([delivery.id for delivery in waiting]))
            .values(claimed_by=owner, claimed_until=until)
            .execution_options(synchronize_session=False)
        )
    return waiting


async def mark_attempted(session: AsyncSession, delivery_id: int, now: datetime | None) -> None:
    """Records when sending began; None when the platform refused it (so it did not arrive)."""
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(attempted_at=now))


async def mark_sent(session: AsyncSession, delivery_id: int, now: datetime) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status=SENT, sent_at=now, claimed_by=None, claimed_until=None)
    )


async def mark_failed(
    session: AsyncSession,
    delivery_id: int,
    *,
    attempts: int,
    next_attempt_at: datetime,
    give_up: bool,
    may_have_arrived: bool = False,
) -> None:
    """Schedules the next attempt. A send that failed did not arrive, unless an earlier attempt was
    cut off (`may_have_arrived`): then it stays marked as possibly delivered."""
    values: dict[str, Any] = {
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
        "status": GIVEN_UP if give_up else PENDING,
        "claimed_by": None,
        "claimed_until": None,
    }
    if not may_have_arrived:
        values["attempted_at"] = None
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


async def release(session: AsyncSession, owner: str) -> None:
    """Gives back what `owner` claimed but did not get to send."""
    await session.execute(
        update(Delivery)
        .where(Delivery.claimed_by == owner, Delivery.status == PENDING)
        .values(claimed_by=None, claimed_until=None)
    )


async def expire(session: AsyncSession, delivery_id: int) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == PENDING)
        .values(status=EXPIRED, claimed_by=None, claimed_until=None)
    )


async def give_up_chat(session: AsyncSession, chat: str) -> None:
    await session.execute(
        update(Delivery).where(Delivery.chat == chat, Delivery.status == PENDING).values(status=GIVEN_UP)
    )
