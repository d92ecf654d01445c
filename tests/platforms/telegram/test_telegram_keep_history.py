"""`/privacy keep off` through Telegram: the /privacy menu's button turns it off, and once the window
has passed the result's buttons answer that it was erased, charging nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db.types import utcnow
from core.i18n import translate
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.platforms.telegram.conftest import ALICE, TRIAL, TelegramBot


def button(buttons: list[dict[str, object]], label: str) -> str:
    return str(next(b["callback_data"] for b in buttons if b["text"] == label))


def texts(api: TelegramBotAPIDouble) -> list[str]:
    """What Alice was told: messages, menus edited in place, and answers to her presses."""
    told = [
        call.fields.get("text") for call in (*api.of("sendMessage", ALICE), *api.of("editMessageText", ALICE))
    ]
    told += [call.fields.get("text") for call in api.of("answerCallbackQuery")]
    return [text for text in told if text]


@pytest.mark.parametrize(("language", "catalog"), [("en", "en"), ("zh-hans", "zh-CN")])
async def test_the_privacy_menu_turns_keeping_off_and_an_erased_result_answers_without_charging(
    telegram_bot: TelegramBot, language: str, catalog: str
) -> None:
    api = telegram_bot.api
    await telegram_bot.say(f"/language {catalog}", language=language)  # presses carry no language here
    await telegram_bot.say("/imagine a lighthouse in fog", language=language)
    [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    await telegram_bot.say("/privacy", language=language)
    menu = api.of("sendMessage", ALICE)[-1]
    assert menu.fields["text"].endswith(translate(catalog, "privacy.keep.state_on", hours=24))

    off = button(menu.buttons(), translate(catalog, "privacy.keep.button_off"))
    await telegram_bot.press(off, message_id=menu.message_id)
    assert translate(catalog, "privacy.keep.off", hours=24) in texts(api)
    balance = await telegram_bot.balance()
    assert balance == TRIAL - 10

    erased = await telegram_bot.harness.app.core.services.privacy.unkept.erase_due(
        utcnow() + timedelta(hours=25)
    )
    assert erased == 1
    reroll = button(photo.buttons(), translate(catalog, "action.reroll"))
    await telegram_bot.press(reroll, message_id=photo.message_id)
    assert translate(catalog, "error.job_erased", job=1) in texts(api)
    assert len(api.of("sendPhoto", ALICE)) == 1
    assert await telegram_bot.balance() == balance
