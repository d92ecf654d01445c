"""The acceptance scenario of the operator's desk, in a real (headless) Chromium: an operator signs in,
finds telegram:777, sees what `image2bot users show` and `admin ledger` print, grants 50 credits,
answers ticket #1 (the user's Telegram chat receives it) and lifts a dispute freeze.

With IMAGE2BOT_SCREENSHOTS=docs/admin (`make screenshots`) the SQLite run also photographs each page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core.admin import accounts, audit
from core.db.repositories import payments as payments_repo
from core.db.session import Database
from core.generation.providers.base import (
    ContentBlocked,
    OnPartial,
    PermanentProviderError,
    RenderRequest,
    RenderResult,
)
from core.generation.providers.local import LocalProvider
from core.i18n import translate
from core.payments.freezes import FreezeReason
from tests.bot.admin_web.chromium import chromium, require_chromium
from tests.bot.admin_web.conftest import OPERATOR, PASSWORD, WEB, add_operator
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import open_telegram_bot

USER = 777
FINISHED = {"succeeded", "failed", "cancelled"}


class TroubledProvider(LocalProvider):
    """The offline renderer, except that krakens break it and anything gory is blocked, as a real
    provider's errors and safety system would."""

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        if "kraken" in request.prompt:
            raise PermanentProviderError("malformed response")
        if "gory" in request.prompt:
            raise ContentBlocked("moderation_blocked")
        return await super().render(request, on_partial)


async def settled(db: Database, account_id: int) -> dict[str, Any]:
    """The account's report once its jobs have finished (so the ledger no longer moves)."""
    async with asyncio.timeout(30):
        while True:
            report = await accounts.report(db, account_id)
            if report["jobs"] and all(job["status"] in FINISHED for job in report["jobs"]):
                return report
            await asyncio.sleep(0.05)


async def test_an_operator_works_the_desk_in_a_browser(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    require_chromium()
    provider = TroubledProvider()
    async with open_telegram_bot(database, tmp_path / "bot", api, web=WEB, provider=provider) as bot:
        app = bot.harness.app
        for prompt in ("a lighthouse in a storm", "a kraken in the harbour", "a gory shipwreck"):
            await bot.say(f"/imagine {prompt}", user=USER)
        account_id = await accounts.find_account(app.db, f"telegram:{USER}")
        await bot.say("/support the lighthouse came out too dark", user=USER)  # ticket #1
        async with app.db.transaction() as session:  # as the Stripe handler does on a lost dispute
            await payments_repo.set_frozen(session, account_id, FreezeReason.DISPUTE_LOST)
        report = await settled(app.db, account_id)
        ledger = await accounts.ledger(app.db, account_id)
        await add_operator(app)
        assert app.web is not None
        await app.web.start()

        base = f"http://127.0.0.1:{app.web.port}"
        with chromium(base, tmp_path / "chromium", screenshots=database.schema is None) as browser:
            await browser.open("/admin/accounts")
            assert (await browser.path()).startswith("/admin/sign-in?next=/admin/accounts")
            await browser.screenshot("sign-in")
            await browser.fill("input[name=name]", OPERATOR)
            await browser.fill("input[name=password]", PASSWORD)
            await browser.submit("form.stacked button[type=submit]")
            assert await browser.path() == "/admin/accounts"
            assert await browser.text("#operator") == OPERATOR

            await browser.fill("input[name=q]", f"telegram:{USER}")
            await browser.submit("form.search button")
            await browser.screenshot("accounts")
            await browser.click_link(f"#{account_id}")
            assert await browser.path() == f"/admin/accounts/{account_id}"
            balance = report["balance"]
            assert await browser.text("#balance-total") == str(balance["total"])
            assert await browser.text("#balance-subscription") == str(balance["subscription"])
            assert await browser.text("#balance-one-time") == str(balance["one_time"])
            assert await browser.text("#identities") == f"telegram:{USER}"
            assert await browser.text("#frozen") == FreezeReason.DISPUTE_LOST
            rows = await browser.texts("#ledger tbody tr")
            assert [row.split()[0] for row in rows] == [str(entry["id"]) for entry in reversed(ledger)]
            for row, entry in zip(rows, reversed(ledger), strict=True):
                assert f"{entry['delta']:+d} {entry['bucket']} {entry['kind']}" in row
            await browser.screenshot("account")

            await browser.fill("#grant input[name=amount]", "50")
            await browser.fill("#grant input[name=reason]", "the lighthouse came out too dark")
            await browser.submit("#grant button[type=submit]:not(.secondary)")
            assert await browser.text(".notice") == "Credits granted."
            assert await browser.text("#balance-total") == str(balance["total"] + 50)
            assert (await accounts.report(app.db, account_id))["balance"]["total"] == balance["total"] + 50
            [granted] = await audit.entries(app.db, action="credits_granted")
            assert (granted["actor"], granted["account_id"]) == (f"operator:{OPERATOR}", account_id)
            assert granted["details"]["credits"] == 50

            await browser.open("/admin/tickets")
            await browser.screenshot("tickets")
            await browser.click_link("#1")
            await browser.fill("#answer textarea", "Here it is again, brighter.")
            await browser.submit("#answer button")
            assert (
                await browser.text(".notice") == "Answer sent: it reaches the user's chat through the outbox."
            )
            expected = translate("en", "support.replied", ticket=1, text="Here it is again, brighter.")
            await api.wait_until(
                lambda: any(c.fields.get("text") == expected for c in api.of("sendMessage", USER))
            )
            await browser.screenshot("ticket")

            await browser.open(f"/admin/accounts/{account_id}")
            await browser.fill("#unfreeze input[name=reason]", "dispute reviewed: the buyer's bank erred")
            await browser.submit("#unfreeze button")
            assert (
                await browser.text(".notice") == "The freeze is lifted: the account may create images again."
            )
            assert await browser.text("#frozen") == "none"
            assert (await accounts.report(app.db, account_id))["frozen"] is None
            [lifted] = await audit.entries(app.db, action="account_unfrozen")
            assert lifted["actor"] == f"operator:{OPERATOR}"

            [failed] = [job for job in report["jobs"] if job["error_ref"]]
            await browser.open("/admin/jobs?period=7d")
            await browser.fill("input[name=ref]", failed["error_ref"].lower())
            await browser.submit("form.inline button")
            assert f"#{failed['id']} · failed" in await browser.text("#found-job")
            assert f"telegram:{USER}" in await browser.text("#found-job")
            await browser.screenshot("jobs")

            await browser.open(f"/admin/accounts/{account_id}")
            assert await browser.text("#strikes") == "1 in 24 h · 1 in all"
            await browser.submit("#strikes-reset button")
            assert await browser.text("#strikes") == "0 in 24 h · 0 in all"
            await browser.open(f"/admin/accounts/{account_id}/erase")
            await browser.screenshot("erase")
            await browser.open("/admin/audit")
            await browser.screenshot("audit")
            await browser.open("/admin?period=24h")
            await browser.screenshot("overview")
