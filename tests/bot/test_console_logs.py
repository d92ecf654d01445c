"""The console chat never shows logs: on a terminal they go to a file under data_dir (its path printed
once), and with Stripe unreachable the chat gets a translated answer, not a traceback. When stdin is
not a terminal (a pipe, a script), logs stay on stderr."""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import configure_logging
from core.i18n import translate
from tests.bot.test_cli import run
from tests.harness import DatabaseTarget

pytestmark = pytest.mark.usefixtures("restored_logging")

API_KEY = "sk_test_consolelogs123456"


class Terminal(io.StringIO):
    """Typed lines, as from a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def stripe_unreachable(cli_env: DatabaseTarget, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """[stripe] on, its API at a port that refuses connections (bound, never listening)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("IMAGE2BOT_WEB__PORT", "0")  # its webhooks need the web server
        monkeypatch.setenv("IMAGE2BOT_STRIPE__ENABLED", "true")
        monkeypatch.setenv("IMAGE2BOT_STRIPE__API_KEY", API_KEY)
        monkeypatch.setenv("IMAGE2BOT_STRIPE__WEBHOOK_SECRET", "whsec_consolelogs123456")
        monkeypatch.setenv("IMAGE2BOT_STRIPE__API_BASE", f"http://127.0.0.1:{closed.getsockname()[1]}")
        yield


@pytest.mark.usefixtures("stripe_unreachable")
@pytest.mark.parametrize(("lang", "language"), [("C", "en"), ("zh_CN.UTF-8", "zh-CN")])
def test_on_a_terminal_logs_go_to_a_file_and_an_unreachable_stripe_gets_a_translated_answer(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    lang: str,
    language: str,
) -> None:
    monkeypatch.setenv("LANG", lang)
    monkeypatch.setattr(sys, "stdin", Terminal("/accept\n/buy starter\n"))

    code, out, err = run(capsys, "console", "--user", "x")

    log_file = tmp_path / "data" / "logs" / "image2bot.log"
    assert code == 0, err
    assert err == f"logs: {log_file}\n"  # the path, once, and nothing else
    assert translate(language, "error.payment_unavailable") in out
    for noise in ("Traceback", "WARNING", "ERROR", "stripe:", "APIConnectionError"):
        assert noise not in out
    logged = log_file.read_text()
    assert "ERROR core.payments.service: stripe: a checkout could not be created (APIConnectionError)" in (
        logged
    )
    assert "offline demo renderer" in logged  # the warnings that used to come between the replies
    assert API_KEY not in logged


@pytest.mark.usefixtures("stripe_unreachable")
def test_when_stdin_is_not_a_terminal_logs_stay_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("/accept\n/buy starter\n"))

    code, out, err = run(capsys, "console", "--user", "x", "--json")

    assert code == 0, err
    replies = [json.loads(line) for line in out.splitlines()]
    assert replies[-1]["text"] == translate("en", "error.payment_unavailable")
    assert "stripe: a checkout could not be created (APIConnectionError)" in err
    assert "logs:" not in err
    assert not (tmp_path / "data" / "logs").exists()


def test_the_log_file_is_masked_and_can_be_json(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "image2bot.log"
    configure_logging("INFO", [API_KEY], json_lines=True, file=log_file)

    logging.getLogger("some.library").warning("called with %s by jane@mail.example.com", API_KEY)

    [record] = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert record["message"] == "called with [redacted] by [redacted]"
    assert record["level"] == "WARNING"
