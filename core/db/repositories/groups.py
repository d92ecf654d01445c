"""Group wallets: a group chat's settings and shared account, and what its members used of a day."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Account, CreditHold, GroupWallet, Job, LedgerEntry
from core.db.statuses import JobStatus
from core.db.types import utcnow

# Failed and cancelled jobs were refunded: they use none of a quota.
_COUNTED = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)


@dataclass(frozen=True, slots=True)
class WalletRow:
    chat: str
    account_id: int
    enabled: bool
    member_quota: int | None
    daily_cap: int | None
    subscription: int
    one_time: int


_WALLET = select(
    GroupWallet.chat,
    GroupWallet.account_id,
    GroupWallet.enabled,
    GroupWallet.member_quota,
    GroupWallet.daily_cap,
    Account.balance_subscription,
    Account.balance_one_time,
).join(Account, Account.id == GroupWallet.account_id)


async def find(session: AsyncSession, chat: str) -> WalletRow | None:
    """The chat's wallet with its balances, if the chat ever had one."""
    row = (await session.execute(_WALLET.where(GroupWallet.chat == chat))).one_or_none()
    return None if row is None else WalletRow(*row)


async def is_wallet(session: AsyncSession, account_id: int) -> bool:
    """Whether the account is a group's wallet (a purchase for it tells its buyer so)."""
    found = await session.scalar(select(GroupWallet.chat).where(GroupWallet.account_id == account_id))
    return found is not None


async def create(session: AsyncSession, chat: str) -> None:
    """Gives the chat a wallet (off, empty) unless another request just did: an account of its own,
    with no identity."""
    try:
        async with session.begin_nested():
            account = Account(preferences={})
            session.add(account)
            await session.flush()
            session.add(GroupWallet(chat=chat, account_id=account.id, enabled=False))
            await session.flush()
    except IntegrityError:
        return


async def change(session: AsyncSession, chat: str, values: dict[str, Any]) -> None:
    await session.execute(
        update(GroupWallet).where(GroupWallet.chat == chat).values(**values, updated_at=utcnow())
    )


async def usage(
    session: AsyncSession, wallet_ids: Collection[int], since: datetime
) -> dict[tuple[int, int], int]:
    """Images each member asked of each wallet since `since`, by (wallet, member); refunded jobs
    count none."""
    rows = await session.execute(
        select(Job.wallet_id, Job.account_id, func.sum(Job.n))
        .where(
            Job.wallet_id.in_(sorted(wallet_ids)),
            Job.created_at >= since,
            Job.status.in_(_COUNTED),
        )
        .group_by(Job.wallet_id, Job.account_id)
    )
    return {(wallet, member): int(images) for wallet, member, images in rows.all()}


async def members_usage(session: AsyncSession, wallet_id: int, since: datetime) -> list[tuple[str, int]]:
    """(identity, images) of each member who used the wallet since `since`, most first."""
    images = func.sum(Job.n)
    rows = await session.execute(
        select(Job.identity, images)
        .where(Job.wallet_id == wallet_id, Job.created_at >= since, Job.status.in_(_COUNTED))
        .group_by(Job.identity)
        .order_by(images.desc(), Job.identity)
    )
    return [(identity, int(count)) for identity, count in rows.all()]


async def spends_of(session: AsyncSession, account_ids: Sequence[int]) -> list[LedgerEntry]:
    """Group wallets' entries made for these members, oldest first: their part of a member's export."""
    query = select(LedgerEntry).where(LedgerEntry.member_id.in_(list(account_ids))).order_by(LedgerEntry.id)
    return list(await session.scalars(query))


async def unlink_member(session: AsyncSession, account_id: int) -> None:
    """Erasure: the wallets' entries and holds stay for the groups, no longer naming the member."""
    await session.execute(
        update(LedgerEntry).where(LedgerEntry.member_id == account_id).values(member_id=None)
    )
    await session.execute(update(CreditHold).where(CreditHold.member_id == account_id).values(member_id=None))
