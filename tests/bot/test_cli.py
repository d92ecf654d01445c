"""The `image2bot` command line, run in-process through its real entry point `bot.__main__.main`.

`main` calls `asyncio.run`, so these tests are plain `def` tests. They still take the async `database`
fixture (SQLite and PostgreSQL): pytest-asyncio sets it up and tears it down on its own event loop,
which is not running while the test body runs, so `asyncio.run` inside `main` gets a loop of its own.
That keeps one code path for both databases, in-process and fast, with no subprocesses.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main

pytestmark = pytest.mark.usefixtures("restored_logging")

IDENTITY = "console:x"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Runs the CLI; returns its exit code, stdout and stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse refuses
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return json.loads(out)


def chat_in_console(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *lines: str
) -> list[Any]:
    """`image2bot console --user x --json` with the given lines on stdin, after accepting the terms;
    returns the JSON replies to the given lines."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in ("/accept", *lines))))
    code, out, err = run(capsys, "console", "--user", "x", "--json")
    assert code == 0, err
    accepted, *replies = [json.loads(line) for line in out.splitlines()]
    assert accepted["text"].startswith("Thank you: you accepted"), accepted
    return replies


@pytest.mark.usefixtures("cli_env")
def test_migrate_brings_the_database_up_to_date_and_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "migrate")[:2] == (0, "database is up to date\n")
    assert run(capsys, "migrate")[:2] == (0, "database is up to date\n")


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("args", "who"),
    [(("users", "show", "console:nobody", "--json"), "console:nobody"), (("admin", "ledger", "999"), "999")],
)
def test_an_unknown_identity_or_account_fails_on_stderr(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], who: str
) -> None:
    code, out, err = run(capsys, *args)

    assert code == 1
    assert out == ""
    assert f"unknown account or identity: {who}" in err


@pytest.mark.usefixtures("cli_env")
def test_a_console_chat_creates_an_account_that_users_show_reports(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = chat_in_console(capsys, monkeypatch, "/balance")
    assert [reply["type"] for reply in replies] == ["text"]
    assert replies[0]["text"].startswith("Balance: 40 credits")

    report = run_json(capsys, "users", "show", IDENTITY, "--json")

    assert isinstance(report["account_id"], int)
    assert report["identities"] == [IDENTITY]
    assert report["balance"] == {"subscription": 0, "one_time": 40, "total": 40}
    assert (report["frozen"], report["legal_hold"], report["subscription"]) == (None, None, None)
    assert report["strikes"] == {"last_24h": 0, "total": 0}
    assert (report["payments"], report["disputes"], report["fraud_warnings"]) == ([], [], [])
    assert (report["tickets"], report["jobs"]) == ([], [])
    assert report["consents"]["accepted_at"] is not None
    assert [record["kind"] for record in report["consents"]["records"]] == ["terms"]


@pytest.mark.usefixtures("cli_env")
def test_users_show_lists_the_jobs_of_the_account(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_in_console(capsys, monkeypatch, "/imagine a red fox --ar 16:9")

    report = run_json(capsys, "users", "show", IDENTITY, "--json")

    assert [(job["status"], job["cost"], job["style"]) for job in report["jobs"]] == [
        ("succeeded", 10, "none")
    ]
    assert report["balance"]["total"] == 30
    code, out, _ = run(capsys, "users", "show", IDENTITY)
    assert code == 0
    assert f"account {report['account_id']}: {IDENTITY}" in out
    assert "balance 30 (subscription 0, one-time 30)" in out


@pytest.mark.usefixtures("cli_env")
def test_admin_grant_is_kept_in_the_ledger(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_in_console(capsys, monkeypatch, "/balance")

    code, out, err = run(capsys, "admin", "grant", IDENTITY, "25", "--reason", "support case 12")
    assert code == 0, err
    assert "granted 25 credits" in out
    assert "balance 65" in out

    entries = run_json(capsys, "admin", "ledger", IDENTITY, "--json")
    assert [(entry["delta"], entry["kind"], entry["bucket"], entry["note"]) for entry in entries] == [
        (40, "trial", "one_time", None),
        (25, "admin_grant", "one_time", "support case 12"),
    ]
    report = run_json(capsys, "users", "show", IDENTITY, "--json")
    assert report["balance"] == {"subscription": 0, "one_time": 65, "total": 65}
    # the ledger is found by account id as well
    assert run_json(capsys, "admin", "ledger", str(report["account_id"]), "--json") == entries
    code, out, _ = run(capsys, "admin", "ledger", IDENTITY)
    assert code == 0
    assert "support case 12" in out


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("credits", ["0", "abc", "-5", "2.5"])
def test_admin_grant_refuses_what_is_not_a_positive_number(
    capsys: pytest.CaptureFixture[str], credits: str
) -> None:
    code, out, err = run(capsys, "admin", "grant", IDENTITY, credits, "--reason", "oops")

    assert code == 2
    assert out == ""
    assert "credits" in err


@pytest.mark.usefixtures("cli_env")
def test_admin_grant_to_an_unknown_identity_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "admin", "grant", "console:nobody", "5", "--reason", "nobody is there")

    assert code == 1
    assert out == ""
    assert "console:nobody" in err


@pytest.mark.usefixtures("cli_env")
def test_a_configuration_error_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE2BOT_GENERATION__CONCURRENCY", "0")

    code, out, err = run(capsys, "migrate")

    assert code == 2
    assert out == ""
    assert "generation.concurrency" in err


@pytest.mark.usefixtures("cli_env")
def test_a_missing_config_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "nope.toml"), "migrate")

    assert code == 2
    assert "config file not found" in err
