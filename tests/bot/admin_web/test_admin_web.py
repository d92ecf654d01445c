"""The web admin over real HTTP, on SQLite and PostgreSQL: who may see it, the forms' protections,
the sign-in throttle, sessions that end, and operators' actions with their audit trail."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update

from core.admin import accounts
from core.db.models import AuditEvent, LedgerEntry, OperatorSession
from core.db.types import utcnow
from core.i18n import translate
from core.policy import CreditSettings
from tests.bot.admin_web.conftest import OPERATOR, PASSWORD, WEB, Desk, add_operator, browser_at, browsing
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, open_telegram_bot

PAGES = [
    "/admin",
    "/admin/accounts",
    "/admin/accounts?q=telegram%3A777",
    "/admin/accounts/1",
    "/admin/accounts/1/erase",
    "/admin/tickets",
    "/admin/tickets/1",
    "/admin/jobs?period=7d",
    "/admin/audit?action=credits_granted",
    "/admin/codes",
]
TRIAL = CreditSettings().trial
FORMS = [
    "/admin/accounts/1/grant",
    "/admin/accounts/1/deduct",
    "/admin/accounts/1/unfreeze",
    "/admin/accounts/1/strikes",
    "/admin/accounts/1/hold",
    "/admin/accounts/1/export",
    "/admin/accounts/1/erase",
    "/admin/tickets/1/answer",
    "/admin/tickets/1/close",
    "/admin/tickets/1/credit",
    "/admin/tickets/1/restore",
    "/admin/codes/create",
    "/admin/codes/1/disable",
    "/admin/sign-out",
]


async def account_of(desk: Desk, user: str = "alice") -> int:
    await desk.harness.say("/balance", user)
    return await accounts.find_account(desk.harness.app.db, f"test:{user}")


async def test_anonymous_requests_are_sent_to_sign_in_and_back(desk: Desk) -> None:
    assert await account_of(desk) == 1
    await desk.harness.say("/support where is my picture")  # ticket 1
    browser = desk.browser
    for page in PAGES:
        answer = await browser.get(page)
        assert answer.status == 303, page
        assert answer.location.startswith("/admin/sign-in?next=/admin"), page
    for form in FORMS:
        answer = await browser.post(form, {"amount": "5", "reason": "x"}, csrf=False)
        assert (answer.status, answer.location) == (303, "/admin/sign-in"), form
    assert (await desk.harness.balance()).total == TRIAL  # the trial, untouched

    answer = await browser.sign_in(next_="/admin/audit?action=credits_granted")
    assert (answer.status, answer.location) == (303, "/admin/audit?action=credits_granted")
    answer = await browser.get(answer.location)
    assert answer.status == 200
    assert f'<span id="operator">{OPERATOR}</span>' in answer.text
    for page in PAGES:
        assert (await browser.get(page)).status == 200, page


@pytest.mark.parametrize(
    "target", ["//evil.example/admin", "https://evil.example/", "/elsewhere", "/admin\\x"]
)
async def test_sign_in_never_sends_the_browser_elsewhere(desk: Desk, target: str) -> None:
    answer = await desk.browser.sign_in(next_=target)
    assert (answer.status, answer.location) == (303, "/admin")


async def test_a_form_without_its_csrf_token_is_refused(desk: Desk) -> None:
    account_id = await account_of(desk)
    browser = desk.browser
    await browser.sign_in()
    await browser.get(f"/admin/accounts/{account_id}")
    form = {"amount": "50", "reason": "a forged post"}
    assert (await browser.post(f"/admin/accounts/{account_id}/grant", form, csrf=False)).status == 403
    forged = {**form, "csrf": "not-the-session-token"}
    assert (await browser.post(f"/admin/accounts/{account_id}/grant", forged, csrf=False)).status == 403
    assert (await browser.post("/admin/sign-out", {}, csrf=False)).status == 403
    assert (await desk.harness.balance()).total == TRIAL
    assert (await browser.get("/admin/accounts")).status == 200  # still signed in

    # the sign-in form too, without the value of its cookie
    async with browser_at(browser.base) as stranger:
        answer = await stranger.post("/admin/sign-in", {"name": OPERATOR, "password": PASSWORD}, csrf=False)
        assert answer.status == 403


async def test_the_sixth_wrong_password_in_a_minute_is_refused_unchecked(desk: Desk) -> None:
    browser = desk.browser
    for _ in range(5):
        answer = await browser.sign_in(password="a wrong guess")
        assert answer.status == 401
        assert "Wrong name, password or code." in answer.text
    answer = await browser.sign_in()  # the right password, not even checked
    assert answer.status == 429
    assert "Too many failed attempts" in answer.text
    assert (await browser.get("/admin/accounts")).status == 303


async def test_sessions_end_when_idle_and_on_sign_out(desk: Desk) -> None:
    browser = desk.browser
    await browser.sign_in()
    page = await browser.get("/admin/accounts")
    assert page.status == 200
    cookie = page.headers.get("Set-Cookie")
    assert cookie is None  # set once, at sign-in
    async with desk.harness.app.db.transaction() as session:
        await session.execute(update(OperatorSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
    assert (await browser.get("/admin/accounts")).status == 303

    await browser.sign_in()
    assert (await browser.get("/admin/accounts")).status == 200
    assert (await browser.post("/admin/sign-out", {})).location == "/admin/sign-in"
    assert (await browser.get("/admin/accounts")).status == 303
    async with desk.harness.app.db.read() as session:
        assert (await session.scalars(select(OperatorSession))).all() == []
        actions = list(
            await session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "operator:ana"))
        )
    assert actions == ["operator_signed_in", "operator_signed_in", "operator_signed_out"]


async def test_the_session_cookie_and_the_pages_are_locked_down(desk: Desk) -> None:
    browser = desk.browser
    async with browser.client.get(f"{browser.base}/admin/sign-in") as response:
        await response.text()
        csrf = response.cookies["image2bot_admin_form"].value
        body = await response.text()
    assert csrf in body
    form = {"name": OPERATOR, "password": PASSWORD, "next": "/admin/accounts", "csrf": csrf}
    async with browser.client.post(
        f"{browser.base}/admin/sign-in", data=form, allow_redirects=False
    ) as response:
        session_cookie = response.cookies["image2bot_admin"]
    assert session_cookie["httponly"]
    assert session_cookie["samesite"] == "Lax"
    assert session_cookie["path"] == "/admin"
    assert not session_cookie["secure"]  # plain http here; https requests and an https public_url set it
    page = await browser.get("/admin/accounts")
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_grant_is_in_the_ledger_and_the_audit_log_with_the_operators_name(desk: Desk) -> None:
    account_id = await account_of(desk)
    browser = desk.browser
    await browser.sign_in()
    await browser.get(f"/admin/accounts/{account_id}")
    answer = await browser.post(f"/admin/accounts/{account_id}/grant", {"amount": "50", "reason": "case 42"})
    assert (answer.status, answer.location) == (303, f"/admin/accounts/{account_id}?done=granted")
    page = await browser.get(answer.location)
    assert "Credits granted." in page.text
    assert f'<dd id="balance-total">{TRIAL + 50}</dd>' in page.text
    assert (await desk.harness.balance()).total == TRIAL + 50
    async with desk.harness.app.db.read() as session:
        entry = (await session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc()))).first()
        event = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "credits_granted"))
        ).one()
    assert entry is not None
    assert (entry.delta, entry.kind, entry.note) == (50, "admin_grant", "case 42")
    assert (event.actor, event.account_id, event.details["credits"]) == ("operator:ana", account_id, 50)
    audit = await browser.get("/admin/audit?actor=operator%3Aana&action=credits_granted")
    assert "case 42" in audit.text

    too_much = await browser.post(
        f"/admin/accounts/{account_id}/deduct", {"amount": "5000", "reason": "oops"}
    )
    assert too_much.location.endswith("problem=insufficient")
    no_reason = await browser.post(f"/admin/accounts/{account_id}/grant", {"amount": "5", "reason": " "})
    assert no_reason.location.endswith("problem=reason")
    assert (await desk.harness.balance()).total == TRIAL + 50


async def test_erasing_takes_the_account_number_typed_out(desk: Desk) -> None:
    account_id = await account_of(desk)
    browser = desk.browser
    await browser.sign_in()
    await browser.get(f"/admin/accounts/{account_id}/erase")
    wrong = await browser.post(f"/admin/accounts/{account_id}/erase", {"confirm": "yes"})
    assert wrong.location == f"/admin/accounts/{account_id}/erase?problem=confirm"
    await browser.post(f"/admin/accounts/{account_id}/hold", {"hold": "on", "reason": "case 7"})
    held = await browser.post(f"/admin/accounts/{account_id}/erase", {"confirm": str(account_id)})
    assert held.location == f"/admin/accounts/{account_id}?problem=on-hold"
    await browser.post(f"/admin/accounts/{account_id}/hold", {"hold": "off"})
    export = await browser.post(f"/admin/accounts/{account_id}/export", {})
    assert export.status == 200
    assert (
        export.headers["Content-Disposition"] == f'attachment; filename="image2bot-export-{account_id}.zip"'
    )
    erased = await browser.post(f"/admin/accounts/{account_id}/erase", {"confirm": str(account_id)})
    assert erased.location == "/admin/accounts?done=erased"
    assert "test:alice" not in (await browser.get(f"/admin/accounts/{account_id}")).text


async def test_an_answer_from_the_web_reaches_the_users_telegram_chat(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with open_telegram_bot(database, tmp_path, api, web=WEB) as bot:
        await add_operator(bot.harness.app)
        await bot.say("/support my image never arrived")
        async with browsing(bot.harness.app) as browser:
            await browser.sign_in()
            inbox = await browser.get("/admin/tickets")
            assert f"telegram:{ALICE}" in inbox.text
            assert "my image never arrived" in inbox.text
            await browser.get("/admin/tickets/1")
            answer = await browser.post("/admin/tickets/1/answer", {"body": "sent it again"})
            assert answer.location == "/admin/tickets/1?done=answered"
            expected = translate("en", "support.replied", ticket=1, text="sent it again")
            await api.wait_until(
                lambda: any(c.fields["text"] == expected for c in api.of("sendMessage", ALICE))
            )
            page = await browser.get("/admin/tickets/1")
            assert "operator:ana" in page.text
            assert "sent it again" in page.text


async def test_numbers_no_form_or_address_can_hold_are_refused_plainly(desk: Desk) -> None:
    """Huge or non-ASCII digits, in forms and addresses, get the page's own answer, never a 500."""
    account_id = await account_of(desk)
    browser = desk.browser
    await browser.sign_in()
    await browser.get(f"/admin/accounts/{account_id}")
    for amount in ("9" * 5000, "²", "１０", "12345678"):
        answer = await browser.post(f"/admin/accounts/{account_id}/grant", {"amount": amount, "reason": "x"})
        assert (answer.status, answer.location) == (303, f"/admin/accounts/{account_id}?problem=amount")
    assert (await desk.harness.balance()).total == TRIAL
    for path in ("/admin/accounts/" + "9" * 30, "/admin/tickets/" + "9" * 30):
        assert (await browser.get(path)).status == 404
    for query in ("9" * 30, "²", "99999999999"):
        assert (await browser.get(f"/admin/accounts?q={query}")).status == 200
    assert (await browser.get("/admin/audit?account=" + "9" * 30 + "&before=²")).status == 200


async def test_a_form_posted_as_multipart_is_refused_before_anything_is_read(desk: Desk) -> None:
    """The admin's forms upload nothing: a multipart body (files spooled to disk) is turned away."""
    account_id = await account_of(desk)
    browser = desk.browser
    await browser.sign_in()
    await browser.get(f"/admin/accounts/{account_id}")
    upload = aiohttp.FormData({"amount": "50", "reason": "x", "csrf": browser.csrf})
    upload.add_field("file", b"\0" * 1024, filename="big.bin")
    path = f"/admin/accounts/{account_id}/grant"
    async with browser.client.post(browser.base + path, data=upload, allow_redirects=False) as response:
        assert response.status == 415
    assert (await desk.harness.balance()).total == TRIAL


async def test_a_reported_job_is_reviewed_and_its_credits_restored_once_from_the_web(desk: Desk) -> None:
    harness = desk.harness
    job_id = await harness.imagine("a lighthouse")
    await harness.chat.wait_final(job_id)
    await harness.say("/support unrelated question")  # ticket 1, about no job
    [opened] = await harness.say(f"/report {job_id} the lighthouse is upside down", locale="zh-CN")
    assert opened.text == translate("zh-CN", "report.opened", job=job_id, ticket=2, credits=10)
    browser = desk.browser
    assert (await browser.get("/admin/tickets/2/images/1")).status == 303, "signed in only"
    assert (await browser.post("/admin/tickets/2/restore", {}, csrf=False)).status == 303
    await browser.sign_in()

    page = await browser.get("/admin/tickets/2")
    assert f"Reported job #{job_id}" in page.text
    assert "charged 10 (subscription 0, one-time 10)" in page.text
    assert 'src="/admin/tickets/2/images/1"' in page.text
    assert 'action="/admin/tickets/2/restore"' in page.text
    picture = await browser.client.get(browser.base + "/admin/tickets/2/images/1", allow_redirects=False)
    async with picture:
        assert (picture.status, picture.content_type) == (200, "image/png")
        assert await picture.read() == await harness.app.storage.read(f"outputs/job-{job_id}-1.png")
    assert (await browser.get("/admin/tickets/2/images/2")).status == 404
    assert (await browser.get("/admin/tickets/1/images/1")).status == 404
    assert "restore" not in (await browser.get("/admin/tickets/1")).text

    forged = await browser.post("/admin/tickets/2/restore", {"csrf": "forged"}, csrf=False)
    assert forged.status == 403
    before = (await harness.balance()).total
    done = await browser.post("/admin/tickets/2/restore", {})
    assert done.location == "/admin/tickets/2?done=restored"
    again = await browser.post("/admin/tickets/2/restore", {})
    assert again.location == "/admin/tickets/2?problem=restore_already"
    assert "already restored" in (await browser.get(again.location)).text
    none = await browser.post("/admin/tickets/1/restore", {})
    assert none.location == "/admin/tickets/1?problem=restore_no_job"
    assert (await harness.balance()).total == before + 10

    page = await browser.get("/admin/tickets/2")
    assert "credits restored" in page.text
    assert 'action="/admin/tickets/2/restore"' not in page.text
    assert "operator:ana" in page.text, "the thread records who restored them"
    async with harness.app.db.read() as session:
        [event] = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "job_credits_restored"))
        ).all()
        entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "restore"))).all()
    assert (event.actor, event.details) == ("operator:ana", {"ticket": 2, "job": job_id, "credits": 10})
    assert [(entry.delta, entry.bucket) for entry in entries] == [(10, "one_time")]
    told = translate("zh-CN", "report.restored", job=job_id, ticket=2, credits=10, balance=before + 10)
    await harness.app.notifier.drain()
    assert [reply.text for reply in harness.chat.sent["alice"]].count(told) == 1
    await harness.assert_ledger_consistent()


async def test_a_code_made_on_the_web_is_shown_once_redeemed_once_and_disabled(desk: Desk) -> None:
    browser = desk.browser
    await browser.sign_in()
    await browser.get("/admin/codes")
    made = await browser.post("/admin/codes/create", {"credits": "25", "uses": "2", "expires": "2099-12-31"})
    assert made.status == 200
    found = re.search(r"<code>([A-Z0-9-]{14})</code>", made.text)
    assert found is not None, made.text
    code = found.group(1)
    listing = await browser.get("/admin/codes")
    assert code not in listing.text
    assert "2099-12-31" in listing.text
    assert "0 / 2" in listing.text

    [redeemed] = await desk.harness.say(f"/redeem {code}")
    assert not redeemed.error
    assert (await desk.harness.balance()).total == TRIAL + 25
    bad = await browser.post("/admin/codes/create", {"credits": "0", "uses": "2"})
    assert bad.location == "/admin/codes?problem=credits"
    past = await browser.post("/admin/codes/create", {"credits": "5", "uses": "2", "expires": "2001-01-01"})
    assert past.location == "/admin/codes?problem=expires"
    disabled = await browser.post("/admin/codes/1/disable", {})
    assert disabled.location == "/admin/codes?done=disabled"
    [refused] = await desk.harness.say(f"/redeem {code}", "bob")
    assert refused.text == translate("en", "error.redeem_disabled")
    async with desk.harness.app.db.read() as session:
        actions = (
            await session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "operator:ana"))
        ).all()
    assert {"code_create", "code_disable"} <= set(actions)
