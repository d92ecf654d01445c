"""`image2bot admin code create|list|disable`: a code printed once, redeemed in a chat, listed with its
uses, disabled; each change in the audit log."""

from __future__ import annotations

import pytest

from tests.bot.test_admin_cli import audit_log
from tests.bot.test_cli import chat_in_console, run, run_json
from tests.harness import DatabaseTarget

pytestmark = pytest.mark.usefixtures("restored_logging")


def test_an_operator_creates_lists_and_disables_a_code_that_a_user_redeems(
    cli_env: DatabaseTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(
        capsys, "admin", "code", "create", "--credits", "100", "--uses", "500", "--expires", "2099-01-31"
    )
    assert code == 0, err
    plain, summary = out.strip().splitlines()
    assert summary.startswith("code 1: 100 credits, 500 uses, valid through 2099-01-31")

    [redeemed] = chat_in_console(capsys, monkeypatch, f"/redeem {plain}")
    assert redeemed["text"] == "Code redeemed: 100 credits added. Balance: 140."

    [listed] = run_json(capsys, "admin", "code", "list", "--json")
    assert (listed["prefix"], listed["used"], listed["uses"], listed["state"]) == (
        plain[:4],
        1,
        500,
        "active",
    )
    assert plain.replace("-", "") not in str(listed)
    assert run(capsys, "admin", "code", "disable", "1")[:2] == (0, "code 1 disabled\n")
    assert run(capsys, "admin", "code", "disable", "1")[0] == 1
    [listed] = run_json(capsys, "admin", "code", "list", "--json")
    assert listed["state"] == "disabled"
    [created] = audit_log(capsys, action="code_create")
    assert created["details"] == {"code": 1, "prefix": plain[:4], "credits": 100, "uses": 500,
                                  "expires_at": "2099-02-01T00:00:00+00:00"}  # fmt: skip
    [disabled] = audit_log(capsys, action="code_disable")
    assert disabled["actor"].startswith("cli:")


@pytest.mark.usefixtures("cli_env")
def test_a_code_cannot_be_made_to_grant_nothing_or_to_expire_in_the_past(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "admin", "code", "create", "--credits", "0", "--uses", "5")[0] == 2
    assert run(capsys, "admin", "code", "create", "--credits", "5", "--uses", "many")[0] == 2
    code, out, _ = run(
        capsys, "admin", "code", "create", "--credits", "5", "--uses", "1", "--expires", "2020-01-01"
    )
    assert (code, out.strip()) == (2, "that day is over already: choose a later --expires")
    assert (
        run(capsys, "admin", "code", "create", "--credits", "5", "--uses", "1", "--code", "WELCOME2027")[0]
        == 0
    )
    code, out, _ = run(
        capsys, "admin", "code", "create", "--credits", "5", "--uses", "1", "--code", "welcome-2027"
    )
    assert (code, out.strip()) == (1, "not created: that code exists already")
