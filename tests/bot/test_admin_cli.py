"""The operator's command line: an account's whole picture, and the actions scripts take on it
(deduct, unfreeze, strikes, tickets, jobs by error reference, the audit log)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.admin import accounts
from core.db.models import Delivery, Job, SafetyStrike
from core.db.repositories import payments as payments_repo
from core.db.statuses import JobStatus
from core.db.types import utcnow
from core.i18n import translate
from core.privacy.settings import PrivacySettings
from tests.bot.test_cli import IDENTITY, chat_in_console, run, run_json
from tests.core.generation.job_rows import JOB_COLUMNS
from tests.harness import DatabaseTarget

pytestmark = pytest.mark.usefixtures("restored_logging")

T = TypeVar("T")


def in_database(target: DatabaseTarget, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one transaction on the CLI's database, as another process would."""

    async def go() -> T:
        db = target.open()
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(go())


def account_of(target: DatabaseTarget) -> int:
    async def find() -> int:
        db = target.open()
        try:
            return await accounts.find_account(db, IDENTITY)
        finally:
            await db.dispose()

    return asyncio.run(find())


def audit_log(capsys: pytest.CaptureFixture[str], **filters: str) -> list[dict[str, Any]]:
    argv = [part for name, value in filters.items() for part in (f"--{name}", value)]
    return run_json(capsys, "admin", "audit", *argv, "--json")


def test_users_show_says_what_stops_an_account_and_each_is_lifted_from_the_command_line(
    cli_env: DatabaseTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_in_console(capsys, monkeypatch, "/balance")
    account = account_of(cli_env)

    async def stop(session: AsyncSession) -> None:
        await payments_repo.set_frozen(session, account, "dispute")
        session.add_all([SafetyStrike(account_id=account, source="provider") for _ in range(3)])

    in_database(cli_env, stop)
    assert run(capsys, "admin", "hold", IDENTITY, "--reason", "court order 7")[0] == 0

    code, out, _ = run(capsys, "users", "show", IDENTITY)
    assert code == 0
    assert f"frozen: dispute (image2bot admin unfreeze {IDENTITY}" in out
    assert "legal hold: court order 7" in out
    assert "safety strikes: 3 in 24 h, 3 in all" in out
    assert [hold for hold in run(capsys, "admin", "holds")[1].splitlines()] == [
        f"account {account}: court order 7"
    ]

    code, out, _ = run(capsys, "admin", "strikes", "reset", IDENTITY)
    assert (code, out.strip()) == (0, f"account {account}: 3 safety strikes removed")
    code, out, _ = run(capsys, "admin", "unfreeze", IDENTITY, "--reason", "bank error, reviewed")
    assert (code, out.strip()) == (0, f"account {account} unfrozen (was: dispute)")
    report = run_json(capsys, "users", "show", IDENTITY, "--json")
    assert (report["frozen"], report["strikes"]["total"]) == (None, 0)

    actions = [(entry["action"], entry["actor"].partition(":")[0]) for entry in audit_log(capsys)]
    assert actions[:3] == [("account_unfrozen", "cli"), ("strikes_reset", "cli"), ("legal_hold", "cli")]
    [unfrozen] = audit_log(capsys, action="account_unfrozen")
    assert unfrozen["details"] == {"was": "dispute", "reason": "bank error, reviewed"}


def test_deduct_takes_credits_back_and_never_below_zero(
    cli_env: DatabaseTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_in_console(capsys, monkeypatch, "/balance")

    code, out, err = run(capsys, "admin", "deduct", IDENTITY, "41", "--reason", "mistaken grant")
    assert (code, out) == (1, "")
    assert "has only 40 credits; nothing taken" in err
    code, out, _ = run(capsys, "admin", "deduct", IDENTITY, "15", "--reason", "mistaken grant")
    assert (code, out.strip()) == (0, f"took 15 credits from account {account_of(cli_env)}; balance 25")

    entries = run_json(capsys, "admin", "ledger", IDENTITY, "--kind", "admin_deduct", "--json")
    assert [(entry["delta"], entry["bucket"], entry["note"]) for entry in entries] == [
        (-15, "one_time", "mistaken grant")
    ]
    [deducted] = audit_log(capsys, action="credits_deducted")
    assert (deducted["details"]["credits"], deducted["details"]["reason"]) == (15, "mistaken grant")


def test_tickets_are_listed_answered_in_the_users_chat_and_closed(
    cli_env: DatabaseTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_in_console(capsys, monkeypatch, "/support my image never arrived")

    listed = run_json(capsys, "admin", "tickets", "list", "--json")
    assert [(ticket["id"], ticket["identity"], ticket["preview"]) for ticket in listed] == [
        (1, IDENTITY, "my image never arrived")
    ]
    code, out, _ = run(capsys, "admin", "tickets", "answer", "1", "we sent it again")
    assert code == 0
    assert "ticket #1" in out
    code, out, _ = run(capsys, "admin", "tickets", "close", "1")
    assert (code, out.strip()) == (0, "ticket #1 closed; the user will be told")
    assert run(capsys, "admin", "tickets", "close", "1")[1].strip() == "ticket #1 was already closed"
    assert run(capsys, "admin", "tickets", "list")[1].strip() == "no open tickets"

    async def outbox(session: AsyncSession) -> list[str]:
        rows = await session.scalars(
            select(Delivery).where(Delivery.chat == "console:private:x").order_by(Delivery.id)
        )
        return [row.payload["text"] for row in rows]

    assert in_database(cli_env, outbox)[-2:] == [
        translate("en", "support.replied", ticket=1, text="we sent it again"),
        translate("en", "support.closed", ticket=1),
    ]
    code, out, _ = run(capsys, "admin", "tickets", "show", "1")
    assert "we sent it again" in out
    code, _, err = run(capsys, "admin", "tickets", "answer", "9", "hello")
    assert code == 1
    assert err.splitlines()[-1] == translate("en", "error.support_ticket_not_found", ticket=9)


def test_a_job_is_found_by_the_error_reference_the_user_quotes(
    cli_env: DatabaseTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_in_console(capsys, monkeypatch, "/balance")
    account = account_of(cli_env)

    async def failed(session: AsyncSession) -> int:
        job = Job(
            **{**JOB_COLUMNS, "identity": IDENTITY},
            account_id=account,
            cost=10,
            status=JobStatus.FAILED,
            error_code="provider_error",
            error_ref="A1B2C3D4",
            finished_at=utcnow(),
        )
        session.add(job)
        await session.flush()
        return job.id

    job_id = in_database(cli_env, failed)

    found = run_json(capsys, "admin", "job", "a1b2c3d4", "--json")
    assert (found["id"], found["account_id"], found["error"]) == (job_id, account, "provider_error")
    code, out, _ = run(capsys, "admin", "failures")
    assert (code, out.split()) == (0, ["1", "provider_error"])
    assert "ref A1B2C3D4" in run(capsys, "users", "show", IDENTITY)[1]
    code, _, err = run(capsys, "admin", "job", "FFFFFFFF")
    assert code == 1
    assert "no job with error reference FFFFFFFF" in err


def test_a_reported_jobs_credits_are_restored_once_from_the_command_line(
    cli_env: DatabaseTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_in_console(capsys, monkeypatch, "/imagine a cat", "/support where is my receipt?")
    monkeypatch.setattr(sys, "stdin", io.StringIO("/report 1 the cat has five legs\n"))  # once it is drawn
    code, out, err = run(capsys, "console", "--user", "x", "--json")
    assert code == 0, err
    [opened] = [json.loads(line) for line in out.splitlines()]
    contact = PrivacySettings().contact  # no desk is staffed: the user is told where help is
    assert opened["text"] == translate("en", "report.kept_write_by_email", job=1, ticket=2, contact=contact)

    code, out, _ = run(capsys, "admin", "tickets", "show", "2")
    assert code == 0
    assert "reports job 1: succeeded 1k 1024x1024 x1, charged 10 (subscription 0, one-time 10)" in out
    assert "the cat has five legs" in out

    code, out, _ = run(capsys, "admin", "tickets", "restore", "2")
    assert (code, out.strip()) == (
        0,
        "restored 10 credits of job 1 (ticket #2); balance 40; the user will be told",
    )
    code, _, err = run(capsys, "admin", "tickets", "restore", "2")
    assert code == 1
    assert err.splitlines()[-1] == translate("en", "error.restore_already", job=1)
    code, _, err = run(capsys, "admin", "tickets", "restore", "1")
    assert code == 1
    assert err.splitlines()[-1] == translate("en", "error.restore_no_job", ticket=1)
    assert "credits restored" in run(capsys, "admin", "tickets", "show", "2")[1]

    ledger = run_json(capsys, "admin", "ledger", IDENTITY, "--kind", "restore", "--json")
    assert [(entry["delta"], entry["bucket"]) for entry in ledger] == [(10, "one_time")]
    [restored] = audit_log(capsys, action="job_credits_restored")
    assert restored["details"] == {"ticket": 2, "job": 1, "credits": 10}
    assert restored["actor"].startswith("cli:")

    async def outbox(session: AsyncSession) -> list[str]:
        rows = await session.scalars(
            select(Delivery).where(Delivery.chat == "console:private:x").order_by(Delivery.id)
        )
        return [row.payload["text"] for row in rows]

    told = translate("en", "report.restored", job=1, ticket=2, credits=10, balance=40)
    assert in_database(cli_env, outbox).count(told) == 1
