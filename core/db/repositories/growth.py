"""Credit codes, failed redemptions, invitation codes and referrals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import CodeFailure, InviteCode, Payment, RedeemCode, Referral
from core.db.statuses import ReferralStatus

# --- credit codes -------------------------------------------------------------------------------------


async def add_code(
    session: AsyncSession,
    *,
    digest: str,
    prefix: str,
    credits: int,
    uses: int,
    expires_at: datetime | None,
    created_by: str,
) -> RedeemCode:
    code = RedeemCode(
        digest=digest, prefix=prefix, credits=credits, uses=uses, expires_at=expires_at, created_by=created_by
    )
    session.add(code)
    await session.flush()
    return code


async def code_by_digest(session: AsyncSession, digest: str) -> RedeemCode | None:
    return await session.scalar(select(RedeemCode).where(RedeemCode.digest == digest))


async def codes(session: AsyncSession, *, limit: int) -> list[RedeemCode]:
    """The newest first."""
    return list(await session.scalars(select(RedeemCode).order_by(RedeemCode.id.desc()).limit(limit)))


async def disable_code(session: AsyncSession, code_id: int, now: datetime) -> bool:
    """False when there is no such code or it was disabled already."""
    result = await session.execute(
        update(RedeemCode)
        .where(RedeemCode.id == code_id, RedeemCode.disabled_at.is_(None))
        .values(disabled_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def use_code(session: AsyncSession, code_id: int, now: datetime) -> bool:
    """Counts one redemption if the code still allows one (usable, not expired, uses left), in one
    conditional UPDATE: however many processes race for the last use, one of them gets it."""
    result = await session.execute(
        update(RedeemCode)
        .where(
            RedeemCode.id == code_id,
            RedeemCode.used < RedeemCode.uses,
            RedeemCode.disabled_at.is_(None),
            or_(RedeemCode.expires_at.is_(None), RedeemCode.expires_at > now),
        )
        .values(used=RedeemCode.used + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def add_failure(session: AsyncSession, account_id: int, now: datetime) -> None:
    session.add(CodeFailure(account_id=account_id, at=now))
    await session.flush()


async def failures_since(session: AsyncSession, account_id: int, since: datetime) -> list[datetime]:
    """When the account's failed redemptions since `since` happened, the oldest first."""
    rows = await session.scalars(
        select(CodeFailure.at)
        .where(CodeFailure.account_id == account_id, CodeFailure.at >= since)
        .order_by(CodeFailure.at)
    )
    return list(rows)


async def forget_failures_before(session: AsyncSession, account_id: int, before: datetime) -> None:
    await session.execute(
        delete(CodeFailure).where(CodeFailure.account_id == account_id, CodeFailure.at < before)
    )


# --- invitations --------------------------------------------------------------------------------------


async def invite_code_of(session: AsyncSession, account_id: int) -> InviteCode | None:
    return await session.get(InviteCode, account_id)


async def add_invite_code(session: AsyncSession, account_id: int, code: str, chat: str | None) -> InviteCode:
    invite = InviteCode(account_id=account_id, code=code, chat=chat)
    session.add(invite)
    await session.flush()
    return invite


async def inviter_by_code(session: AsyncSession, code: str) -> InviteCode | None:
    return await session.scalar(select(InviteCode).where(InviteCode.code == code))


async def referral_of(session: AsyncSession, invitee_id: int) -> Referral | None:
    return await session.scalar(select(Referral).where(Referral.invitee_id == invitee_id))


async def add_referral(session: AsyncSession, *, invitee_id: int, inviter_id: int) -> None:
    session.add(Referral(invitee_id=invitee_id, inviter_id=inviter_id, status=ReferralStatus.PENDING))
    await session.flush()


async def mark_rewarded(session: AsyncSession, invitee_id: int, payment_id: int, now: datetime) -> int | None:
    """Moves the invitee's pending referral to rewarded by this payment; its inviter, or None when
    there was none pending (none at all, rewarded by an earlier purchase, or revoked)."""
    return await session.scalar(
        update(Referral)
        .where(Referral.invitee_id == invitee_id, Referral.status == ReferralStatus.PENDING)
        .values(status=ReferralStatus.REWARDED, rewarded_at=now, payment_id=payment_id)
        .returning(Referral.inviter_id)
    )


async def rewarded_by(session: AsyncSession, payment_id: int) -> Referral | None:
    """The referral this payment rewarded, while it stands."""
    return await session.scalar(
        select(Referral).where(Referral.payment_id == payment_id, Referral.status == ReferralStatus.REWARDED)
    )


async def revoke(session: AsyncSession, referral_id: int) -> bool:
    """Moves a rewarded referral to revoked, for good; False when it was not rewarded (revoked already)."""
    result = await session.execute(
        update(Referral)
        .where(Referral.id == referral_id, Referral.status == ReferralStatus.REWARDED)
        .values(status=ReferralStatus.REVOKED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def add_shortfall(session: AsyncSession, referral_id: int, credits: int) -> None:
    await session.execute(
        update(Referral)
        .where(Referral.id == referral_id)
        .values(shortfall=Referral.shortfall + credits)
        .execution_options(synchronize_session=False)
    )


async def invitee_counts(session: AsyncSession, inviter_id: int) -> tuple[int, int]:
    """(invited, of whom bought)."""
    row = (
        await session.execute(
            select(
                func.count(Referral.id),
                func.count(Referral.id).filter(Referral.status == ReferralStatus.REWARDED),
            ).where(Referral.inviter_id == inviter_id)
        )
    ).one()
    return int(row[0]), int(row[1])


async def has_bought(session: AsyncSession, account_id: int) -> bool:
    found = await session.scalar(select(Payment.id).where(Payment.account_id == account_id).limit(1))
    return found is not None
