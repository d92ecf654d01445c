"""`/redeem CODE`: an operator's code credits each account once, never more than its uses in all (even
when several processes redeem at once), is refused clearly when it cannot, and pauses a guesser."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from core.db.models import LedgerEntry, RedeemCode
from core.db.session import Database
from core.db.types import utcnow
from core.growth.codes import Codes, normalize
from core.i18n import translate
from core.policy import CodeSettings
from tests.harness import DatabaseTarget, Harness, assert_books_balance, harness_for


async def code_for(
    harness: Harness, *, credits: int = 100, uses: int = 5, expires_at: datetime | None = None
) -> str:
    plain, _ = await harness.app.core.services.codes.create(
        credits_each=credits, uses=uses, actor="cli:test", expires_at=expires_at
    )
    return plain


async def code_entries(db: Database) -> list[LedgerEntry]:
    async with db.read() as session:
        return list(await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "code")))


async def test_a_code_credits_once_per_account_in_any_case_and_spacing(idle: Harness) -> None:
    code = await code_for(idle, credits=100)
    await idle.say("/balance")
    before = (await idle.balance()).total
    [reply] = await idle.say(f"/redeem {code.lower().replace('-', ' - ')}")
    assert reply.text == translate("en", "redeem.done", credits=100, balance=before + 100)
    assert reply.private
    [again] = await idle.say(f"/redeem {code}")
    assert again.error
    assert again.text == translate("en", "error.redeem_already")
    assert (await idle.balance()).total == before + 100
    [entry] = await code_entries(idle.app.db)
    account = await idle.app.core.services.accounts.find("test", "alice")
    assert account is not None
    assert entry.idempotency_key.endswith(f":{account.id}")
    assert entry.delta == 100
    await idle.assert_ledger_consistent()


async def test_the_database_keeps_no_usable_code(idle: Harness) -> None:
    code = await code_for(idle)
    async with idle.app.db.read() as session:
        [row] = (await session.scalars(select(RedeemCode))).all()
    stored = " ".join(str(value) for value in vars(row).values())
    assert normalize(code) not in normalize(stored)
    assert row.prefix == normalize(code)[:4]


async def test_an_expired_a_used_up_and_an_unknown_code_are_each_refused_clearly(idle: Harness) -> None:
    expired = await code_for(idle, expires_at=utcnow() - timedelta(days=1))
    [reply] = await idle.say(f"/redeem {expired}")
    assert reply.error
    assert translate("en", "error.redeem_expired", day="").rstrip(".") in reply.text

    once = await code_for(idle, uses=1)
    [first] = await idle.say(f"/redeem {once}", "bob")
    assert not first.error
    [second] = await idle.say(f"/redeem {once}", "carol", locale="zh-CN")
    assert second.text == translate("zh-CN", "error.redeem_used_up")

    [unknown] = await idle.say("/redeem NOPE-NOPE-NOPE")
    assert unknown.text == translate("en", "error.redeem_unknown")
    [usage] = await idle.say("/redeem")
    assert usage.text == translate("en", "error.redeem_usage")
    assert [entry.account_id for entry in await code_entries(idle.app.db)] == [
        (await idle.app.core.services.accounts.find("test", "bob")).id  # type: ignore[union-attr]
    ]


async def test_a_disabled_code_credits_no_one(idle: Harness) -> None:
    code = await code_for(idle)
    [view] = await idle.app.core.services.codes.list()
    assert await idle.app.core.services.codes.disable(view.id, actor="cli:test")
    assert not await idle.app.core.services.codes.disable(view.id, actor="cli:test")
    [reply] = await idle.say(f"/redeem {code}")
    assert reply.text == translate("en", "error.redeem_disabled")
    assert await code_entries(idle.app.db) == []


async def test_too_many_wrong_codes_pause_redeeming_without_telling_whether_a_code_exists(
    idle: Harness,
) -> None:
    good = await code_for(idle)
    limit = idle.app.settings.codes.failures_per_hour
    for attempt in range(limit):
        [reply] = await idle.say(f"/redeem WRONG-{attempt:04d}")
        assert reply.text == translate("en", "error.redeem_unknown")
    [paused_good] = await idle.say(f"/redeem {good}")
    [paused_wrong] = await idle.say("/redeem WRONG-AGAIN")
    assert paused_good.error
    prefix = translate("en", "error.redeem_paused", at="|").split("|")[0]
    assert paused_good.text.startswith(prefix)
    assert paused_good.text == paused_wrong.text  # the same words for a real code and a wrong one
    assert await code_entries(idle.app.db) == []
    [other] = await idle.say(f"/redeem {good}", "bob")  # another account is not paused
    assert not other.error


async def test_accounts_racing_for_the_last_uses_never_pass_them(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    """Separate engines (connection pools), as separate processes would have, redeem at once."""
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        code = await code_for(harness, credits=7, uses=3)
        names = [f"user{index}" for index in range(8)]
        ids = [(await harness.app.core.services.accounts.resolve(harness.user(name))).id for name in names]
        engines = [database.open() for _ in range(4)]
        try:
            services = [Codes(engine, CodeSettings()) for engine in engines]
            outcomes = await asyncio.gather(
                *(services[index % 4].redeem(account, code) for index, account in enumerate(ids)),
                *(services[index].redeem(ids[0], code) for index in range(4)),  # one account, four times
            )
        finally:
            for engine in engines:
                await engine.dispose()
        assert sum(outcome.outcome == "redeemed" for outcome in outcomes) == 3
        entries = await code_entries(harness.app.db)
        assert len(entries) == 3
        assert len({entry.account_id for entry in entries}) == 3
        [view] = await harness.app.core.services.codes.list()
        assert view.used == 3
        await assert_books_balance(harness.app.db)


REDEEMER = """
import asyncio, json, sys
from core.db.session import Database
from core.growth.codes import Codes
from core.policy import CodeSettings

async def main() -> None:
    url, schema, code, *accounts = sys.argv[1:]
    db = Database(url, schema=schema or None)
    try:
        codes = Codes(db, CodeSettings())
        done = await asyncio.gather(*(codes.redeem(int(account), code) for account in accounts))
        print(json.dumps([outcome.outcome for outcome in done]))
    finally:
        await db.dispose()

asyncio.run(main())
"""


async def test_two_processes_redeeming_at_once_credit_each_account_once_and_never_pass_the_uses(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    """Real processes (a few seconds: each starts Python and imports the bot), as where several bot
    processes share one database: only the database can keep them to the code's uses."""
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        code = await code_for(harness, credits=9, uses=4)
        names = [f"user{index}" for index in range(6)]
        ids = [str((await harness.app.core.services.accounts.resolve(harness.user(n))).id) for n in names]
        argv = [database.url, database.schema or "", code]
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", REDEEMER, *argv, *ids, stdout=asyncio.subprocess.PIPE
            )
            for _ in range(2)  # each process redeems for every account: each account twice at once
        ]
        outputs = [json.loads((await process.communicate())[0]) for process in processes]
        assert [process.returncode for process in processes] == [0, 0]
        assert sum(outcome == "redeemed" for output in outputs for outcome in output) == 4
        entries = await code_entries(harness.app.db)
        assert len({entry.account_id for entry in entries}) == len(entries) == 4
        await assert_books_balance(harness.app.db)
