"""`/grant` works for configured admins only, and leaves an admin entry with its reason in the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from core.admin import accounts as admin
from core.admin import audit
from core.i18n import translate
from tests.harness import DatabaseTarget, Harness, harness_for


@pytest_asyncio.fixture
async def bot(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness_for(database, tmp_path, run_workers=False, bot={"admins": ["test:boss"]}) as harness:
        yield harness


async def test_an_admin_grants_credits_with_a_reason_in_the_ledger(bot: Harness) -> None:
    await bot.say("/start", "customer")
    replies = await bot.say("/grant test:customer 60 refund for case 12", "boss")
    assert replies[0].text == translate("en", "admin.granted", credits=60, who="test:customer", balance=100)
    assert (await bot.balance("customer")).total == 100
    account = await admin.find_account(bot.app.db, "test:customer")
    entries = await admin.ledger(bot.app.db, account)
    assert entries[-1]["kind"] == "admin_grant"
    assert entries[-1]["delta"] == 60
    assert entries[-1]["note"] == "refund for case 12"
    [audited] = await audit.entries(bot.app.db, account_id=account)
    assert (audited["actor"], audited["action"]) == ("test:boss", "credits_granted")
    assert audited["details"]["credits"] == 60
    await bot.assert_ledger_consistent()


async def test_grant_does_not_exist_for_anyone_else(bot: Harness) -> None:
    await bot.say("/start", "customer")
    replies = await bot.say("/grant test:customer 1000 free money", "customer")
    assert replies[0].text == translate("en", "error.unknown_command", command="/grant")
    assert (await bot.balance("customer")).total == 40


async def test_grant_explains_its_usage_and_unknown_identities(bot: Harness) -> None:
    assert (await bot.say("/grant test:customer lots", "boss"))[0].text == translate(
        "en", "error.grant_usage"
    )
    assert (await bot.say("/grant test:customer 0 nothing", "boss"))[0].text == translate(
        "en", "error.grant_usage"
    )
    unknown = await bot.say("/grant test:nobody 5 hello", "boss")
    assert unknown[0].text == translate("en", "error.unknown_identity", who="test:nobody")
