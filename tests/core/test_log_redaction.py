"""The redaction filter at the root of logging: configured secrets, token- and key-shaped strings and
e-mail addresses are masked in every record, from any library, at any level, exceptions included."""

from __future__ import annotations

import logging

import pytest

from bot.__main__ import configure_logging
from bot.config import load_settings
from bot.log_redaction import MASK, Redactor, configured_secrets

BOT_TOKEN = "7012345678:AAHk3xZrT9qLmN0pQwErTyUiOpAsDfGhJkL"
WEBHOOK_SECRET = "tg-webhook-secret-42"
EMAIL = "jane.doe+bot@mail.example.co.uk"


def test_every_secret_of_the_settings_is_collected() -> None:
    settings = load_settings(
        None,
        database={"url": "postgresql+asyncpg://bot:db-password-7@db/image2bot"},
        openai={"api_key": "sk-proj-openai"},
        telegram={"token": BOT_TOKEN, "webhook_secret": WEBHOOK_SECRET},
        discord={"token": "discord-token"},
        wecom={"secret": "wecom-secret", "token": "wecom-token", "encoding_aes_key": "a" * 43},
        stripe={"api_key": "sk_live_stripe", "webhook_secret": "whsec_stripe"},
        privacy={"identity_hash_secret": "identity-secret"},
    )

    assert set(configured_secrets(settings)) == {
        "db-password-7",
        "sk-proj-openai",
        BOT_TOKEN,
        WEBHOOK_SECRET,
        "discord-token",
        "wecom-secret",
        "wecom-token",
        "a" * 43,
        "sk_live_stripe",
        "whsec_stripe",
        "identity-secret",
    }


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_a_library_logging_at_any_level_cannot_leak(capsys: pytest.CaptureFixture[str], level: str) -> None:
    configure_logging(level, [WEBHOOK_SECRET, "wecom-corp-secret"])
    library = logging.getLogger("some.http.library")  # no level of its own, no handler of its own
    library.setLevel(logging.DEBUG)

    library.debug("POST https://api.telegram.org/bot%s/sendMessage", BOT_TOKEN)
    library.info("headers: %s", {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "to": EMAIL})
    library.warning("gettoken?corpsecret=wecom-corp-secret failed")
    library.warning("keys %s %s %s", "sk-proj-AbC123xyz_456", "sk_test_51Hx9", "whsec_abcdef123")
    try:
        raise ValueError(f"bad address {EMAIL} for token {BOT_TOKEN}")
    except ValueError:
        library.exception("request failed")
    library.error("where", stack_info=True, extra={"note": EMAIL})

    log = capsys.readouterr().err
    for leaked in (BOT_TOKEN, WEBHOOK_SECRET, EMAIL, "wecom-corp-secret", "sk-proj-", "sk_test_5", "whsec_a"):
        assert leaked not in log, leaked
    assert log.count(MASK) >= 9
    assert "ValueError: bad address [redacted] for token bot" not in log
    assert "ValueError: bad address [redacted] for token [redacted]" in log
    assert "request failed" in log


def test_ordinary_text_is_left_alone() -> None:
    redactor = Redactor(["short", "a-long-secret"])
    plain = "job 12 queued: 1024x1024, task_sk-1 desk-lamp 10:30 @home, 5 credits (short)"
    assert redactor.redact(plain) == plain
    assert redactor.redact("a-long-secret and a%2Dlong%2Dsecret") == f"{MASK} and a%2Dlong%2Dsecret"


def test_a_record_whose_arguments_do_not_fit_is_masked_too() -> None:
    record = logging.LogRecord("lib", logging.INFO, __file__, 1, "%s %s", (EMAIL,), None)
    Redactor().filter(record)
    assert EMAIL not in record.getMessage()
