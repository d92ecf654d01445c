"""/imagine in Telegram as a user sees it: acknowledged with Cancel, progress, the photo with its buttons."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from PIL import Image

from core.i18n import translate
from core.messages import image
from platforms.telegram.render import chat_ref
from tests.fakes.openai_images import OpenAIImagesDouble, png_bytes
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, TRIAL, TelegramBot, open_telegram_bot

JOB_ACTIONS = ["🔁 Reroll", "⬆️ Upscale 2K", "⬆️ Upscale 4K", "✨ Vary"]


def labels(call_buttons: list[dict[str, object]]) -> list[object]:
    return [button["text"] for button in call_buttons]


@pytest_asyncio.fixture
async def previewing_bot(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> AsyncIterator[TelegramBot]:
    """Previews on, as in production (the harness leaves them off for the tests that do not look)."""
    async with open_telegram_bot(database, tmp_path, api, generation={"partial_images": 2}) as bot:
        yield bot


async def test_imagine_is_acknowledged_then_drawn_and_delivered_with_its_buttons(
    previewing_bot: TelegramBot,
) -> None:
    api = previewing_bot.api
    before = len(api.calls)
    await previewing_bot.say("/imagine a cat --ar 3:2")

    [ack] = api.of("sendMessage", ALICE)[-1:]
    assert "queued" in ack.fields["text"]
    assert labels(ack.buttons()) == ["✖️ Cancel"]

    [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    with Image.open(io.BytesIO(photo.upload())) as image:
        assert image.size == (1248, 832)
    assert labels(photo.buttons()) == [*JOB_ACTIONS, "📄 Original file", "🚩 Report"]
    assert "a cat" in photo.fields["caption"]
    assert "1248×832" in photo.fields["caption"]
    assert await previewing_bot.balance() == TRIAL - 10  # a 1K image costs 10 credits

    edits = [call for call in api.calls[before:] if call.method in ("editMessageText", "editMessageMedia")]
    assert edits, "the acknowledgement shows progress"
    assert all(call.fields["message_id"] == ack.message_id for call in edits)
    assert any(call.method == "editMessageMedia" for call in edits), "previews replace the acknowledgement"
    assert api.of("sendChatAction", ALICE)[0].fields["action"] == "upload_photo"
    deleted = await api.wait_for("deleteMessage", chat_id=ALICE)
    assert deleted[0].fields["message_id"] == ack.message_id, "the status message makes way for the result"
    await previewing_bot.harness.app.notifier.drain()
    assert not [c for c in api.of("sendMessage", ALICE) if c.buttons() and c is not ack], "no second keyboard"


async def test_the_original_button_sends_the_png_as_a_document(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    await telegram_bot.say("/imagine a lighthouse")
    [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    original = next(b for b in photo.buttons() if b["text"] == "📄 Original file")

    await telegram_bot.press(str(original["callback_data"]), message_id=1)

    [document] = api.of("sendDocument", ALICE)
    assert document.upload() == photo.upload()  # a PNG that fits is sent as itself both ways
    assert api.of("answerCallbackQuery")[-1].fields.get("show_alert") is None


async def test_a_result_too_big_for_a_photo_arrives_as_a_jpeg_preview_and_the_png_document(
    telegram_bot: TelegramBot,
) -> None:
    noisy = Image.frombytes("RGB", (3840, 2160), os.urandom(3840 * 2160 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG", compress_level=1)
    png = buffer.getvalue()
    assert len(png) > 10 * 1024 * 1024
    key = await telegram_bot.harness.app.storage.save_output(7, 0, png)

    await telegram_bot.adapter.send(chat_ref(ALICE, "private"), image(key, "“noise” 3840×2160", job=7))

    [photo] = telegram_bot.api.of("sendPhoto", ALICE)
    preview = photo.upload()
    assert len(preview) <= 10 * 1024 * 1024
    with Image.open(io.BytesIO(preview)) as jpeg:
        assert jpeg.format == "JPEG"
        assert jpeg.size == (3840, 2160)
    [document] = telegram_bot.api.of("sendDocument", ALICE)
    assert document.upload() == png
    assert document.fields["reply_parameters"]["message_id"] > 0


async def test_a_photo_captioned_imagine_is_sent_to_the_image_service_as_the_reference(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble, openai_double: OpenAIImagesDouble
) -> None:
    api.add_file("photo-big", png_bytes(640, 480, (10, 200, 30)))
    photo_sizes = [
        {"file_id": "photo-small", "file_unique_id": "s", "width": 90, "height": 67, "file_size": 900},
        {"file_id": "photo-big", "file_unique_id": "b", "width": 640, "height": 480, "file_size": 5000},
    ]
    openai = {"api_key": "sk-test", "base_url": openai_double.base_url}
    async with open_telegram_bot(
        database, tmp_path, api, openai=openai, generation={"provider": "openai"}
    ) as bot:
        await bot.say("/imagine make it blue", photo=photo_sizes)
        await api.wait_for("sendPhoto", chat_id=ALICE)

    [edit] = [request for request in openai_double.requests if request.path == "/v1/images/edits"]
    [(field_name, _, sent)] = edit.files
    assert field_name == "image[]"
    with Image.open(io.BytesIO(sent)) as reference:
        assert reference.size == (640, 480), "the largest size of the photo"
        assert reference.convert("RGB").getpixel((5, 5)) == (10, 200, 30)


async def test_imagine_replying_to_an_album_uses_every_photo_of_it(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble, openai_double: OpenAIImagesDouble
) -> None:
    colours = [(200, 0, 0), (0, 0, 200)]
    openai = {"api_key": "sk-test", "base_url": openai_double.base_url}
    async with open_telegram_bot(
        database, tmp_path, api, openai=openai, generation={"provider": "openai"}
    ) as bot:
        album = []
        for number, colour in enumerate(colours):
            api.add_file(f"album-{number}", png_bytes(320, 240, colour))
            size = {"file_id": f"album-{number}", "file_unique_id": f"a{number}", "width": 320, "height": 240}
            album.append(await bot.say(None, photo=[size], media_group_id="g1"))
        await bot.say("/imagine blend these", reply_to_message=album[0])
        await api.wait_for("sendPhoto", chat_id=ALICE)

    [edit] = [request for request in openai_double.requests if request.path == "/v1/images/edits"]
    sent = []
    for _, _, data in edit.files:
        with Image.open(io.BytesIO(data)) as reference:
            sent.append(reference.convert("RGB").getpixel((5, 5)))
    assert sent == colours


async def test_a_reference_over_telegrams_download_limit_is_refused_clearly_and_costs_nothing(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    document = {
        "file_id": "huge",
        "file_unique_id": "h",
        "file_name": "scan.png",
        "mime_type": "image/png",
        "file_size": 25 * 1024 * 1024,
    }
    async with open_telegram_bot(
        database, tmp_path, api, generation={"max_reference_bytes": 100 * 1024 * 1024}
    ) as bot:
        await bot.say("/imagine like this", document=document)
        [answer] = api.of("sendMessage", ALICE)
        assert answer.fields["text"] == translate(
            "en", "error.reference_download_too_large", name="scan.png", size=25.0, limit=20
        )
        assert await bot.balance() == TRIAL
        assert not api.of("getFile")


async def test_chinese_telegram_users_are_answered_in_chinese(telegram_bot: TelegramBot) -> None:
    await telegram_bot.say("/balance", language="zh-hans")
    [answer] = telegram_bot.api.of("sendMessage", ALICE)
    assert answer.fields["text"].startswith("余额")
    assert translate("zh-CN", "buy.unavailable") in answer.fields["text"]
    assert answer.buttons() == [], "nothing is sold in this chat"
