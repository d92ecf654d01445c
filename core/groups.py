"""Group wallets: a group chat's shared credits, spent by its members' requests there within a daily
quota per member and an optional daily cap for the whole group.

A wallet is an account of its own, so the ledger moves its credits as any other (reserve, settle,
refund, with the member named on each entry). Whether someone may change a wallet is the platform's
word, as the door declares it; the core only asks when a change is requested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.credits import Balance
from core.db.repositories import groups as repo
from core.db.repositories.groups import WalletRow
from core.db.session import Database
from core.i18n.local_time import Clock
from core.messages import ChatRef
from core.privacy.chats import is_group

DAY = timedelta(days=1)
LARGEST_LIMIT = 100_000  # images a day: anything larger is a typo, not a limit


def day_start(now: datetime) -> datetime:
    """Quotas count per UTC day, the same for every member wherever they are."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class ResetTime:
    """When a day's quotas start again, shown in the reader's language and zone."""

    at: datetime
    zone: str

    def localized(self, language: str) -> str:
        clock = Clock(language, self.zone)
        return f"{clock.moment(self.at)}, {clock.zone_label(self.at)}"


@dataclass(frozen=True, slots=True)
class WalletCharge:
    """What an order paid from a group wallet carries to the write that decides it: whose credits,
    the limits in force, the day they count and when it ends."""

    account_id: int
    member_quota: int | None
    daily_cap: int | None
    since: datetime
    resets: ResetTime


@dataclass(frozen=True, slots=True)
class WalletView:
    """A chat's wallet as shown to its members: on or off, balance, limits, today's use."""

    enabled: bool
    balance: Balance
    member_quota: int | None
    daily_cap: int | None
    used_by_member: int  # the asker's images today
    used_by_group: int
    members: list[tuple[str, int]]  # (member's user id, images today), most first
    resets: ResetTime


class GroupWallets:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def charge(
        self, chat: str, member_id: int, *, zone: str, now: datetime
    ) -> tuple[WalletCharge, Balance, int, int] | None:
        """The enabled wallet of `chat` as a request from `member_id` would be charged to it, with its
        balance and the images the member and the whole group used today; None when the chat's
        requests are paid by each member."""
        since = day_start(now)
        async with self._db.read() as session:
            wallet = await repo.find(session, chat)
            if wallet is None or not wallet.enabled:
                return None
            used = await repo.usage(session, [wallet.account_id], since)
        charge = WalletCharge(
            wallet.account_id, wallet.member_quota, wallet.daily_cap, since, ResetTime(since + DAY, zone)
        )
        by_member = used.get((wallet.account_id, member_id), 0)
        return charge, _balance(wallet), by_member, sum(used.values())

    async def view(self, chat: str, member_id: int, *, zone: str, now: datetime) -> WalletView | None:
        since = day_start(now)
        async with self._db.read() as session:
            wallet = await repo.find(session, chat)
            if wallet is None:
                return None
            used = await repo.usage(session, [wallet.account_id], since)
            members = await repo.members_usage(session, wallet.account_id, since)
        return WalletView(
            enabled=wallet.enabled,
            balance=_balance(wallet),
            member_quota=wallet.member_quota,
            daily_cap=wallet.daily_cap,
            used_by_member=used.get((wallet.account_id, member_id), 0),
            used_by_group=sum(used.values()),
            members=[(identity.split(":", 1)[-1], images) for identity, images in members],
            resets=ResetTime(since + DAY, zone),
        )

    async def switch(self, chat: str, enabled: bool) -> None:
        await self._change(chat, enabled=enabled)

    async def set_quota(self, chat: str, images: int | None) -> None:
        """Images per member per day; None: no quota."""
        await self._change(chat, member_quota=images)

    async def set_cap(self, chat: str, images: int | None) -> None:
        """Images per day for the whole group; None: no cap."""
        await self._change(chat, daily_cap=images)

    async def _change(self, chat: str, **values: object) -> None:
        """Changes the chat's wallet, creating it (off, empty) on first use."""
        async with self._db.transaction() as session:
            if await repo.find(session, chat) is None:
                await repo.create(session, chat)
            await repo.change(session, chat, values)

    async def wallet_of(self, chat: ChatRef) -> int | None:
        """The account of the chat's wallet while it is on: where `/buy` in the chat puts credits."""
        async with self._db.read() as session:
            return await _enabled_wallet(session, chat)


async def paying_account(session: AsyncSession, chat: ChatRef, buyer: int) -> int:
    """Whose credits a purchase made in `chat` adds to: the group's wallet while it is on, else the
    buyer's own account. Read in the purchase's transaction."""
    return await _enabled_wallet(session, chat) or buyer


async def _enabled_wallet(session: AsyncSession, chat: ChatRef) -> int | None:
    if not is_group(chat):
        return None
    wallet = await repo.find(session, chat.serialize())
    return wallet.account_id if wallet is not None and wallet.enabled else None


def _balance(wallet: WalletRow) -> Balance:
    return Balance(wallet.subscription, wallet.one_time)
