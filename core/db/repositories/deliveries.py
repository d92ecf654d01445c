"""The delivery outbox, shared by every process that can send to a platform."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Update, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import leases, locks
from core.db.leases import Lease
from core.db.models import Delivery
from core.db.statuses import DeliveryStatus
from core.db.types import utcnow

DELIVERIES = Delivery.__table__
LEASE = Lease(DELIVERIES.c.claimed_by, DELIVERIES.c.claimed_until)


async def add(
    session: AsyncSession,
    *,
    key: str,
    chat: str,
    payload: dict[str, Any],
    expires_at: datetime | None = None,
) -> bool:
    """Queues one reply; False when a delivery with this key was already queued."""
    result = await session.execute(_insert(session), _row(key, chat, payload, expires_at, utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_all(
    session: AsyncSession,
    chat: str,
    replies: Sequence[tuple[str, dict[str, Any]]],
    *,
    expires_at: datetime | None = None,
) -> None:
    """Queues (key, payload) replies for `chat` in one trip; a key already queued is skipped."""
    now = utcnow()
    rows = [_row(key, chat, payload, expires_at, now) for key, payload in replies]
    if rows:
        connection = await session.connection()
        await connection.execute(_insert(session), rows)


def _row(
    key: str, chat: str, payload: dict[str, Any], expires_at: datetime | None, now: datetime
) -> dict[str, Any]:
    return {
        "key": key,
        "chat": chat,
        "payload": payload,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "expires_at": expires_at,
        "created_at": now,
    }


_INSERTS = {
    "postgresql": postgresql.insert(DELIVERIES).on_conflict_do_nothing(index_elements=["key"]),
    "sqlite": sqlite.insert(DELIVERIES).on_conflict_do_nothing(index_elements=["key"]),
}


def _insert(session: AsyncSession) -> Insert:
    return _INSERTS[session.get_bind().dialect.name]


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
    names = tuple(sorted(platforms))
    if not names:
        return []
    await locks.serialize(session, "outbox-claims")
    result = await session.execute(
        _claim(names), {"owner": owner, "now": now, "until": until, "limit": limit}
    )
    claimed = [Delivery(**row._mapping) for row in result]
    return sorted(claimed, key=lambda delivery: delivery.id)


@functools.cache
def _claim(platforms: tuple[str, ...]) -> Update:
    """Built once per set of platforms: building it costs more than running it."""
    busy_elsewhere = select(DELIVERIES.c.chat).where(
        DELIVERIES.c.status == DeliveryStatus.PENDING,
        LEASE.held_elsewhere(bindparam("owner"), bindparam("now")),
    )
    waiting = (
        select(DELIVERIES.c.id)
        .where(
            DELIVERIES.c.status == DeliveryStatus.PENDING,
            or_(*(DELIVERIES.c.chat.startswith(f"{name}:", autoescape=True) for name in platforms)),
            DELIVERIES.c.chat.not_in(busy_elsewhere),
        )
        .order_by(DELIVERIES.c.id)
        .limit(bindparam("limit"))
    )
    return (
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(waiting))
        .values(LEASE.take(bindparam("owner"), bindparam("until")))
        .returning(*DELIVERIES.c)
    )


async def mark_attempted(session: AsyncSession, delivery_id: int, now: datetime | None) -> None:
    """Records when sending began; None when the platform refused it (so it did not arrive)."""
    await session.execute(_ATTEMPTED, {"delivery": delivery_id, "since": now})


async def close(session: AsyncSession, *, sent: Sequence[int], expired: Sequence[int], now: datetime) -> None:
    """Records replies sent, and progress that expired before it could go; both end their claims."""
    if sent:
        await session.execute(_SENT, {"ids": list(sent), "now": now})
    if expired:
        await session.execute(_EXPIRED, {"ids": list(expired)})


_ATTEMPTED = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("delivery"))
    .values(attempted_at=bindparam("since", type_=DELIVERIES.c.attempted_at.type))
)
_SENT = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=DeliveryStatus.SENT,
        sent_at=bindparam("now", type_=DELIVERIES.c.sent_at.type),
        **LEASE.cleared(),
    )
)
_EXPIRED = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.id.in_(bindparam("ids", expanding=True)), DELIVERIES.c.status == DeliveryStatus.PENDING
    )
    .values(status=DeliveryStatus.EXPIRED, **LEASE.cleared())
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
        "status": DeliveryStatus.GIVEN_UP if give_up else DeliveryStatus.PENDING,
        **LEASE.cleared(),
    }
    if not may_have_arrived:
        values["attempted_at"] = None
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


async def release(session: AsyncSession, owner: str) -> None:
    """Gives back what `owner` claimed but did not get to send."""
    await leases.release(session, DELIVERIES, LEASE, owner, DELIVERIES.c.status == DeliveryStatus.PENDING)


async def give_up_chat(session: AsyncSession, chat: str) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.chat == chat, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.GIVEN_UP)
    )
