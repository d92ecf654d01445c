"""Operators of the web admin, their signed-in sessions and the sign-in failures that throttle guessers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Operator, OperatorSession, SignInFailure


async def add(session: AsyncSession, name: str, password_hash: str, totp_secret: str | None) -> Operator:
    operator = Operator(name=name, password_hash=password_hash, totp_secret=totp_secret)
    session.add(operator)
    await session.flush()
    return operator


async def by_name(session: AsyncSession, name: str) -> Operator | None:
    return await session.scalar(select(Operator).where(Operator.name == name))


async def every(session: AsyncSession) -> list[Operator]:
    return list(await session.scalars(select(Operator).order_by(Operator.name)))


async def disable(session: AsyncSession, operator_id: int, now: datetime) -> None:
    """Marks the operator disabled and signs every one of its browsers out."""
    await session.execute(update(Operator).where(Operator.id == operator_id).values(disabled_at=now))
    await session.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator_id))


async def use_totp_step(session: AsyncSession, operator_id: int, step: int) -> bool:
    """Records `step` as the operator's last code; False when it (or a later one) was used already."""
    result = await session.execute(
        update(Operator)
        .where(
            Operator.id == operator_id,
            or_(Operator.totp_last_step.is_(None), Operator.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def failures_since(
    session: AsyncSession, *, name: str, address: str, since: datetime
) -> tuple[int, int]:
    """How many sign-ins failed since `since` for this name, and from this address."""
    by_name = await session.scalar(
        select(func.count()).where(SignInFailure.name == name, SignInFailure.at >= since)
    )
    by_address = await session.scalar(
        select(func.count()).where(SignInFailure.address == address, SignInFailure.at >= since)
    )
    return int(by_name or 0), int(by_address or 0)


async def record_failure(session: AsyncSession, *, name: str, address: str, at: datetime) -> int:
    failure = SignInFailure(name=name, address=address, at=at)
    session.add(failure)
    await session.flush()
    return failure.id


async def forget_failure(session: AsyncSession, failure_id: int) -> None:
    """An attempt counted as failed while it was checked turned out right."""
    await session.execute(delete(SignInFailure).where(SignInFailure.id == failure_id))


async def open_session(
    session: AsyncSession,
    *,
    token_hash: str,
    operator_id: int,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    session.add(
        OperatorSession(
            token_hash=token_hash,
            operator_id=operator_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def signed_in(session: AsyncSession, token_hash: str) -> tuple[OperatorSession, Operator] | None:
    """The session with this token hash and its operator, whatever their state."""
    row = (
        await session.execute(
            select(OperatorSession, Operator)
            .join(Operator, Operator.id == OperatorSession.operator_id)
            .where(OperatorSession.token_hash == token_hash)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def seen(session: AsyncSession, token_hash: str, now: datetime) -> None:
    await session.execute(
        update(OperatorSession).where(OperatorSession.token_hash == token_hash).values(last_seen_at=now)
    )


async def close_session(session: AsyncSession, token_hash: str) -> bool:
    result = await session.execute(delete(OperatorSession).where(OperatorSession.token_hash == token_hash))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def prune(
    session: AsyncSession, *, now: datetime, idle_before: datetime, failed_before: datetime
) -> None:
    """Drops sessions past their expiry or idle too long, and failures too old to count."""
    await session.execute(
        delete(OperatorSession).where(
            or_(OperatorSession.expires_at <= now, OperatorSession.last_seen_at < idle_before)
        )
    )
    await session.execute(delete(SignInFailure).where(SignInFailure.at < failed_before))
