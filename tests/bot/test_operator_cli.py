"""`image2bot admin operator add|list|disable`, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import io
import sys

import pyotp
import pytest

from tests.bot.test_cli import run

pytestmark = pytest.mark.usefixtures("restored_logging", "cli_env")

PASSWORD = "correct horse battery"


def add(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{PASSWORD}\n"))
    return run(capsys, "admin", "operator", "add", *args, "--password-stdin")


def test_operators_are_added_listed_and_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert add(capsys, monkeypatch, "ana")[0] == 0
    code, out, err = add(capsys, monkeypatch, "bea", "--totp")
    assert code == 0, err
    secret = out.split("secret: ")[1].split()[0]
    assert f"otpauth://totp/image2bot:bea?secret={secret}" in out
    assert len(pyotp.TOTP(secret).now()) == 6
    code, out, err = add(capsys, monkeypatch, "ana")
    assert (code, err.splitlines()[-1]) == (1, "an operator named ana exists already")

    code, out, _ = run(capsys, "admin", "operator", "list")
    assert code == 0
    lines = [line.split()[:3] for line in out.splitlines()]
    assert lines == [["ana", "password", "active"], ["bea", "password", "+"]]

    code, out, _ = run(capsys, "admin", "operator", "disable", "ana")
    assert (code, out.strip()) == (0, "operator ana disabled and signed out")
    _, out, _ = run(capsys, "admin", "operator", "list")
    assert out.splitlines()[0].split()[2] == "disabled"
    code, _, err = run(capsys, "admin", "operator", "disable", "nobody")
    assert (code, err.splitlines()[-1]) == (1, "no operator named nobody")


def test_the_password_is_asked_twice_and_must_match(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, "something else"])
    monkeypatch.setattr(getpass, "getpass", lambda _prompt: next(answers))
    code, _, err = run(capsys, "admin", "operator", "add", "ana")
    assert (code, err.splitlines()[-1]) == (1, "the two passwords differ")
    answers = iter([PASSWORD, PASSWORD])
    code, out, _ = run(capsys, "admin", "operator", "add", "ana")
    assert code == 0
    assert out.startswith("operator ana added")
