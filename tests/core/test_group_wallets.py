"""Group wallets, as a group's members and admins see them: an admin turns the wallet on, members'
`/imagine` in the group spends from it within their daily quota and the group's cap, refunds go back to
it, and members racing for its last credits or quota never overdraw it. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import select

from core import credits
from core.db.models import LedgerEntry
from core.db.types import utcnow
from core.groups import DAY, ResetTime, day_start
from core.i18n import translate
from core.messages import ChatRef, Incoming, Reply, Stage, declared
from tests.harness import DatabaseTarget, Harness, harness_for

GROUP = ChatRef("test", "group", "g1")
PRICE = 10  # a 1K image
TRIAL = 40


@pytest_asyncio.fixture
async def idle(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """The real core with no worker: what is queued stays queued (and counts for the day)."""
    async with harness_for(database, tmp_path, run_workers=False) as running:
        yield running


async def in_group(
    harness: Harness, message: str, user: str, *, admin: bool = False, locale: str | None = None
) -> list[Reply]:
    """`message` from `user` in the group; the door declares whether they administer it."""
    incoming = Incoming(
        harness.user(user, locale),
        GROUP,
        message,
        private_chat=ChatRef("test", "private", user),
        group_admin=declared(admin),
    )
    return await harness.app.core.dispatch(incoming)


async def said(harness: Harness, message: str, user: str, **kwargs: object) -> str:
    [reply] = await in_group(harness, message, user, **kwargs)  # type: ignore[arg-type]
    return reply.text


def en(key: str, **params: object) -> str:
    return translate("en", key, **params)


def zh(key: str, **params: object) -> str:
    return translate("zh-CN", key, **params)


async def wallet_on(harness: Harness, funds: int, *, quota: int | None = None, cap: int | None = None) -> int:
    """An admin turns the group's wallet on with these limits; it is given `funds` credits."""
    assert await said(harness, "/group wallet on", "admin", admin=True) == en("group.wallet_on")
    if quota is not None:
        assert await said(harness, f"/group quota {quota}", "admin", admin=True) == en(
            "group.quota_set", images=quota
        )
    if cap is not None:
        assert await said(harness, f"/group cap {cap}", "admin", admin=True) == en(
            "group.cap_set", images=cap
        )
    account = await harness.app.core.services.groups.wallet_of(GROUP)
    assert account is not None
    async with harness.app.db.transaction() as session:
        await credits.grant(session, account, funds, kind=credits.EntryKind.ADMIN_GRANT, key="fund")
    return account


async def wallet_balance(harness: Harness, account: int) -> int:
    async with harness.app.db.read() as session:
        return (await credits.balance(session, account)).total


def queued(replies: list[Reply]) -> bool:
    return replies[0].stage == Stage.QUEUED


async def test_an_admin_turns_the_wallet_on_and_a_member_spends_from_it_until_the_quota(
    idle: Harness,
) -> None:
    await idle.say("/settings tz Asia/Shanghai", "bob")  # bob reads times in his own zone
    assert await said(idle, "/group", "bob") == en("group.none")
    wallet = await wallet_on(idle, 100, quota=2)

    for _ in range(2):
        assert queued(await in_group(idle, "/imagine a red fox", "bob"))
    refusal = await said(idle, "/imagine a red fox", "bob")

    resets = ResetTime(day_start(utcnow()) + DAY, "Asia/Shanghai")
    assert refusal == en("error.group_quota", quota=2, used=2, reset=resets)
    assert "Asia/Shanghai (UTC+8)" in refusal
    assert await wallet_balance(idle, wallet) == 100 - 2 * PRICE
    assert (await idle.balance("bob")).total == TRIAL, "the member's own credits are untouched"
    bob = await idle.app.core.services.accounts.find("test", "bob")
    assert bob is not None
    async with idle.app.db.read() as session:
        entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "reserve"))).all()
    assert [(entry.account_id, entry.member_id, entry.delta) for entry in entries] == [
        (wallet, bob.id, -PRICE)
    ] * 2
    # Another member still has their own quota.
    assert queued(await in_group(idle, "/imagine a red fox", "carol"))
    await idle.assert_ledger_consistent()


async def test_the_quota_refusal_is_worded_in_the_members_language(idle: Harness) -> None:
    await wallet_on(idle, 100, quota=1)
    assert queued(await in_group(idle, "/imagine 一只猫", "li", locale="zh-Hans"))
    refusal = await said(idle, "/imagine 一只猫", "li", locale="zh-Hans")
    resets = ResetTime(day_start(utcnow()) + DAY, "Asia/Shanghai")  # the zone of zh-CN readers
    assert refusal == zh("error.group_quota", quota=1, used=1, reset=resets)


async def test_a_member_who_is_no_admin_cannot_change_the_wallet(idle: Harness) -> None:
    for command in ("/group wallet on", "/group quota 5", "/group cap 10", "/group wallet off"):
        assert await said(idle, command, "bob") == en("error.group_admins_only")
        assert await said(idle, command, "li", locale="zh-Hans") == zh("error.group_admins_only")
    assert await said(idle, "/group", "bob") == en("group.none"), "nothing was created"
    assert queued(await in_group(idle, "/imagine a cat", "bob"))
    assert (await idle.balance("bob")).total == TRIAL - PRICE, "without a wallet each member pays"


async def test_group_needs_a_group_and_bad_limits_are_refused(idle: Harness) -> None:
    [reply] = await idle.say("/group", "bob")
    assert reply.text == translate("en", "error.group_only")
    [reply] = await idle.say("/群组 wallet on", "li", locale="zh-Hans")
    assert reply.text == zh("error.group_only")
    assert await said(idle, "/group quota lots", "admin", admin=True) == en(
        "error.group_bad_limit", value="lots", limit=100_000
    )
    assert await said(idle, "/group wallet maybe", "admin", admin=True) == en("error.group_usage")


async def test_everyone_sees_the_balance_and_quota_and_admins_see_each_members_use(idle: Harness) -> None:
    await wallet_on(idle, 100, quota=3, cap=5)
    assert queued(await in_group(idle, "/imagine a cat --n 2", "bob"))

    [shown] = await in_group(idle, "/group", "carol")
    resets = ResetTime(day_start(utcnow()) + DAY, "UTC")
    assert shown.text.splitlines() == [
        en("group.status_on"),
        en("group.balance", balance=100 - 2 * PRICE),
        en("group.quota", quota=3, used=0),
        en("group.cap", cap=5, used=2),
        en("group.resets", reset=resets),
    ]
    public, private = await in_group(idle, "/group", "admin", admin=True)
    assert not public.private
    assert private.private, "each member's use is for the admins' eyes"
    assert private.text == "\n".join(
        [en("group.members_title"), en("group.member_line", member="bob", images=2)]
    )
    # The cap: 2 used, 3 left for the whole group.
    assert queued(await in_group(idle, "/imagine a cat --n 3", "carol"))
    assert await said(idle, "/imagine a cat", "dave") == en("error.group_cap", cap=5, used=5, reset=resets)


async def test_a_cancelled_group_job_refunds_the_group_wallet(idle: Harness) -> None:
    wallet = await wallet_on(idle, 30, quota=1)
    [reply] = await in_group(idle, "/imagine a cat", "bob")
    assert reply.job is not None
    assert await wallet_balance(idle, wallet) == 30 - PRICE
    await in_group(idle, f"/cancel {reply.job}", "bob")
    assert await wallet_balance(idle, wallet) == 30
    assert (await idle.balance("bob")).total == TRIAL
    assert queued(await in_group(idle, "/imagine a cat", "bob")), "a refunded job uses no quota"
    await idle.assert_ledger_consistent()


async def test_when_the_wallet_is_off_members_pay_again_and_its_credits_stay(idle: Harness) -> None:
    wallet = await wallet_on(idle, 30)
    assert await said(idle, "/group wallet off", "admin", admin=True) == en("group.wallet_off")
    assert queued(await in_group(idle, "/imagine a cat", "bob"))
    assert (await idle.balance("bob")).total == TRIAL - PRICE
    assert await wallet_balance(idle, wallet) == 30


async def test_members_racing_for_the_last_credits_never_overdraw_the_wallet(idle: Harness) -> None:
    wallet = await wallet_on(idle, 3 * PRICE)
    members = ["bob", "carol", "dave"]
    for member in members:
        await idle.say("/start", member)  # their accounts exist before the race
    outcomes = await asyncio.gather(*(in_group(idle, f"/imagine race {n}", members[n % 3]) for n in range(9)))
    accepted = [replies for replies in outcomes if queued(replies)]
    refused = [replies[0].text for replies in outcomes if not queued(replies)]
    assert len(accepted) == 3
    assert len(refused) == 6
    assert all(
        text.startswith(en("error.group_insufficient_credits", cost=PRICE, balance=0)) for text in refused
    )
    assert await wallet_balance(idle, wallet) == 0
    for member in members:
        assert (await idle.balance(member)).total == TRIAL
    await idle.assert_ledger_consistent()


async def test_requests_racing_for_the_last_quota_take_no_more_than_it(idle: Harness) -> None:
    await wallet_on(idle, 1000, quota=2, cap=3)
    await idle.say("/start", "bob")
    await idle.say("/start", "carol")
    outcomes = await asyncio.gather(*(in_group(idle, f"/imagine quota {n}", "bob") for n in range(6)))
    assert sum(queued(replies) for replies in outcomes) == 2
    outcomes = await asyncio.gather(*(in_group(idle, f"/imagine cap {n}", "carol") for n in range(4)))
    assert sum(queued(replies) for replies in outcomes) == 1, "the group's cap of 3"
    await idle.assert_ledger_consistent()


async def test_a_members_export_lists_their_group_spends_and_erasure_unlinks_them(idle: Harness) -> None:
    wallet = await wallet_on(idle, 100)
    assert queued(await in_group(idle, "/imagine a cat", "bob"))
    bob = await idle.app.core.services.accounts.find("test", "bob")
    assert bob is not None
    privacy = idle.app.core.services.privacy

    exported = await privacy.exports.for_user(bob.id, "test")
    zipped = await idle.app.core.services.storage.read(exported.parts[0])
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        data = json.loads(archive.read("data.json"))
    [spend] = data["group_spends"]
    assert (spend["kind"], spend["delta"], spend["member_id"]) == ("reserve", -PRICE, bob.id)
    assert "account_id" not in spend, "the wallet is the group's, not the member's"

    await privacy.eraser.erase_now(bob.id, "cli:operator")
    async with idle.app.db.read() as session:
        entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == wallet))).all()
    assert entries
    assert all(entry.member_id is None for entry in entries)
    assert await wallet_balance(idle, wallet) == 100, "the member's unfinished job came back to the wallet"
    await idle.assert_ledger_consistent()


def test_reset_time_reads_in_the_readers_zone() -> None:
    at = day_start(utcnow()) + DAY
    assert ResetTime(at, "UTC").localized("en").endswith(", UTC")
    assert ResetTime(at, "Asia/Shanghai").localized("zh-CN").endswith("Asia/Shanghai (UTC+8)")
