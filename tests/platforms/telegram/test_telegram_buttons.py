"""Buttons in Telegram: job actions for their owner only, menus that edit themselves, every press answered."""

from __future__ import annotations

from pathlib import Path

from core.i18n import translate
from core.messages import ActionKind, Button
from platforms.telegram.callbacks import CallbackSigner
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, BOB, GROUP, TOKEN, TRIAL, TelegramBot, open_telegram_bot


def button(call_buttons: list[dict[str, object]], label: str) -> str:
    return str(next(b["callback_data"] for b in call_buttons if b["text"] == label))


async def test_upscale_2k_queues_a_2k_job_for_the_owner_and_refuses_everyone_else(
    telegram_bot: TelegramBot,
) -> None:
    api = telegram_bot.api
    await telegram_bot.say(f"/imagine@{telegram_bot.adapter.application.bot.username} a cat", chat=GROUP)
    [photo] = await api.wait_for("sendPhoto", chat_id=GROUP)
    upscale = button(photo.buttons(), "⬆️ Upscale 2K")

    await telegram_bot.press(upscale, user=BOB, message_id=photo.message_id, chat=GROUP)
    refusal = api.of("answerCallbackQuery")[-1]
    assert refusal.fields["text"] == translate("en", "error.job_not_found", job=1)
    assert refusal.fields["show_alert"] is True
    assert await telegram_bot.harness.app.core.services.accounts.find("telegram", str(BOB)) is not None
    assert await telegram_bot.balance(BOB) == TRIAL, "a refused press costs nothing"

    await telegram_bot.press(upscale, user=ALICE, message_id=photo.message_id, chat=GROUP)
    assert api.of("answerCallbackQuery")[-1].fields.get("text") is None
    status = api.of("sendMessage", GROUP)[-1]
    assert "#2" in status.fields["text"]  # queued, or already drawing when the status message leaves
    [_, upscaled] = await api.wait_for("sendPhoto", 2, chat_id=GROUP)
    assert "2048×2048" in upscaled.fields["caption"]
    assert await telegram_bot.balance(ALICE) == TRIAL - 10 - 20


async def test_buttons_from_before_a_restart_still_work(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with open_telegram_bot(database, tmp_path, api) as before:
        await before.say("/imagine a cat")
        [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    reroll = button(photo.buttons(), "🔁 Reroll")

    async with open_telegram_bot(database, tmp_path, api) as after:
        await after.press(reroll, message_id=photo.message_id)
        await api.wait_for("sendPhoto", 2, chat_id=ALICE)
        assert await after.balance() == TRIAL - 20


async def test_a_forged_or_altered_button_is_refused(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    await telegram_bot.say("/imagine a cat")
    [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    reroll = button(photo.buttons(), "🔁 Reroll")
    altered = reroll.replace(":r:", ":4:")

    for data in (altered, "j:1:r:1|AAAAAAAAAAA", "not ours"):
        await telegram_bot.press(data, message_id=photo.message_id)
        answer = api.of("answerCallbackQuery")[-1]
        assert answer.fields["text"] == translate("en", "error.button_expired")
    assert await telegram_bot.balance() == TRIAL - 10


async def test_cancel_on_the_acknowledgement_stops_the_job_and_restores_the_credits(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with open_telegram_bot(database, tmp_path, api, generation={"local_step_delay_s": 5.0}) as bot:
        await bot.say("/imagine a slow cat")
        [ack] = api.of("sendMessage", ALICE)
        await bot.press(button(ack.buttons(), "✖️ Cancel"), message_id=ack.message_id)
        cancelled = api.of("sendMessage", ALICE)[-1]
        assert cancelled.fields["text"].startswith("Job #")
        assert "cancelled" in cancelled.fields["text"]
        assert await bot.balance() == TRIAL
        assert ack.message_id in [call.fields["message_id"] for call in api.of("deleteMessage", ALICE)]


async def test_a_settings_press_saves_it_and_updates_the_menu_in_place(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    await telegram_bot.say("/settings")
    [menu] = api.of("sendMessage", ALICE)
    assert "✓ 1:1" in [b["text"] for b in menu.buttons()]

    await telegram_bot.press(button(menu.buttons(), "16:9"), message_id=menu.message_id)

    [edit] = api.of("editMessageText", ALICE)
    assert edit.fields["message_id"] == menu.message_id
    assert "✓ 16:9" in [b["text"] for b in edit.buttons()]
    await telegram_bot.say("/imagine a wide cat")
    [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    assert "1360×768" in photo.fields["caption"], "the saved default applies"


async def test_where_nothing_is_sold_the_balance_has_no_buy_button(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    await telegram_bot.say("/balance")
    [balance] = api.of("sendMessage", ALICE)
    assert translate("en", "buy.unavailable") in balance.fields["text"]
    assert balance.buttons() == []
    await telegram_bot.say("/buy")
    assert api.of("sendMessage", ALICE)[-1].fields["text"].startswith(translate("en", "buy.unavailable"))


async def test_every_button_fits_telegrams_64_bytes(telegram_bot: TelegramBot) -> None:
    await telegram_bot.say("/settings")
    await telegram_bot.say("/imagine a cat --n 4")
    await telegram_bot.api.wait_for("sendPhoto", 4, chat_id=ALICE)
    await telegram_bot.harness.app.notifier.drain()
    data = [str(b["callback_data"]) for call in telegram_bot.api.calls for b in call.buttons()]
    assert data
    assert max(len(item.encode()) for item in data) <= 64


def test_button_data_signed_with_one_token_is_refused_by_a_bot_with_another() -> None:
    data = CallbackSigner(TOKEN).for_button(12, Button(ActionKind.VARY, "Vary"))
    assert CallbackSigner(TOKEN).read(data) is not None
    assert CallbackSigner("654321:another").read(data) is None
