"""Forgiving input through Telegram: a one-dash or IME-typed flag is drawn as asked, never charged as
prompt text, and a mistyped flag is refused with "did you mean" before anything is charged."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.i18n import translate
from tests.platforms.telegram.conftest import ALICE, TRIAL, TelegramBot


@pytest.mark.parametrize(
    ("message", "language", "prompt"),
    [("/imagine a cat -ar 16:9", "en", "a cat"), ("/画 一只猫 ——ar 16:9", "zh-hans", "一只猫")],
)
async def test_a_one_dash_flag_is_drawn_as_asked_and_not_charged_as_prompt(
    telegram_bot: TelegramBot, message: str, language: str, prompt: str
) -> None:
    api = telegram_bot.api
    await telegram_bot.say(message, language=language)

    [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    with Image.open(io.BytesIO(photo.upload())) as image:
        width, height = image.size
    assert abs(width / height - 16 / 9) < 0.02
    caption = photo.fields["caption"]
    assert prompt in caption
    assert "ar 16:9" not in caption
    assert await telegram_bot.balance() == TRIAL - 10  # one 1K image, charged once


@pytest.mark.parametrize(
    ("message", "language", "catalog"),
    [("/imagine a cat --ra 16:9", "en", "en"), ("/画 一只猫 -ra 16:9", "zh-hans", "zh-CN")],
)
async def test_a_mistyped_flag_is_refused_with_did_you_mean_and_charges_nothing(
    telegram_bot: TelegramBot, message: str, language: str, catalog: str
) -> None:
    api = telegram_bot.api
    await telegram_bot.say("/balance", language=language)
    before = await telegram_bot.balance()
    await telegram_bot.say(message, language=language)

    refusal = api.of("sendMessage", ALICE)[-1].fields["text"]
    assert refusal == translate(
        catalog,
        "error.unknown_flag_suggest",
        flag="--ra",
        suggestion="--ar",
        known="--ar --style --res --model --n",
    )
    assert api.of("sendPhoto", ALICE) == []
    assert await telegram_bot.balance() == before
