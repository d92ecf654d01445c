"""Bad input through the Telegram door: text, references, button presses. Each gets a clear answer in
the chat (or on the pressed button), and the ledger does not move."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from core.i18n import translate
from core.messages import ActionKind, Button, Choice
from core.privacy.settings import PrivacySettings
from platforms.telegram.callbacks import CallbackSigner
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import (  # noqa: F401  (api: a fixture)
    ALICE,
    BOB,
    TOKEN,
    TelegramBot,
    api,
    open_telegram_bot,
)
from tests.robustness.conftest import ledger
from tests.robustness.images import bomb, bomb_by_header, truncated_png
from tests.robustness.inputs import REFUSED, REFUSED_RAW, en

MAX_REFERENCE = 1024 * 1024
TOO_MANY_PIXELS = {"limit": 50}

CONTACT = PrivacySettings().contact  # no support desk is staffed here: users are sent there


async def test_bad_imagine_text_is_explained_and_costs_nothing(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,  # noqa: F811
) -> None:
    async with open_telegram_bot(database, tmp_path, api) as bot:
        await bot.say("/balance")
        before = await ledger(bot.harness.app)
        for rest, expected in [*REFUSED, *REFUSED_RAW]:
            sent = len(api.of("sendMessage", ALICE))
            await bot.say(f"/imagine {rest}")
            answers = [call.fields["text"] for call in api.of("sendMessage", ALICE)[sent:]]
            assert answers == [expected], repr(rest[:40])
        assert await ledger(bot.harness.app) == before


async def test_control_characters_and_lone_surrogates_in_stored_text_are_left_out(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,  # noqa: F811
) -> None:
    """NUL and lone surrogates cannot be stored in PostgreSQL: they must never reach it."""
    async with open_telegram_bot(database, tmp_path, api, run_workers=False) as bot:
        await bot.say("/imagine a\x00cat\ud800in a\x1bhat\u200d")
        [queued] = api.of("sendMessage", ALICE)
        assert queued.fields["text"].startswith("Job #1 queued")
        job = await bot.harness.app.core.services.jobs.get(1)
        assert job is not None
        assert job.prompt == "a cat in a hat\u200d"  # a zero-width joiner belongs to emoji: it stays
        await bot.say("/support my \x00 job \ud800 is slow")
        ticket = api.of("sendMessage", ALICE)[-1].fields["text"]
        assert ticket == translate("en", "support.kept_write_by_email", ticket=1, contact=CONTACT)


def _document(file_id: str, name: str, size: int | None, mime: str = "image/png") -> dict[str, Any]:
    document = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name, "mime_type": mime}
    return document if size is None else {**document, "file_size": size}


def _photo(file_id: str, size: int | None) -> list[dict[str, Any]]:
    photo = {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600}
    return [photo if size is None else {**photo, "file_size": size}]


async def test_bad_references_are_explained_and_cost_nothing(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,  # noqa: F811
) -> None:
    files = {
        "declared-huge": os.urandom(MAX_REFERENCE + 1),
        "undeclared-huge": os.urandom(MAX_REFERENCE + 1),  # a photo size may come without file_size
        "random": os.urandom(2000),
        "truncated": truncated_png(),
        "empty": b"",
        "header-bomb": bomb_by_header(100_000, 100_000),
        "bomb": bomb(8000, 8000),
    }
    for file_id, data in files.items():
        api.add_file(file_id, data)
    limit_mb = MAX_REFERENCE // 1024 // 1024
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"document": _document("declared-huge", "scan.png", MAX_REFERENCE + 1)},
            en("reference_too_large", name="scan.png", limit=limit_mb),
        ),
        (
            {"photo": _photo("undeclared-huge", None)},
            en("reference_too_large", name="photo-undeclared-huge.jpg", limit=limit_mb),
        ),
        ({"document": _document("random", "noise.png", 2000)}, en("reference_not_image", name="noise.png")),
        (
            {"document": _document("truncated", "half.png", len(files["truncated"]))},
            en("reference_not_image", name="half.png"),
        ),
        (
            {"document": _document("empty", "empty.jpg", 0, "image/jpeg")},
            en("reference_not_image", name="empty.jpg"),
        ),
        (
            {"photo": _photo("header-bomb", len(files["header-bomb"]))},
            en("reference_too_many_pixels", name="photo-header-bomb.jpg", **TOO_MANY_PIXELS),
        ),
        (
            {"document": _document("bomb", "black.png", len(files["bomb"]))},
            en("reference_too_many_pixels", name="black.png", **TOO_MANY_PIXELS),
        ),
    ]
    async with open_telegram_bot(
        database, tmp_path, api, generation={"max_reference_bytes": MAX_REFERENCE}
    ) as bot:
        await bot.say("/balance")
        before = await ledger(bot.harness.app)
        for attached, expected in cases:
            sent = len(api.of("sendMessage", ALICE))
            await bot.say("/imagine like this", **attached)
            answers = [call.fields["text"] for call in api.of("sendMessage", ALICE)[sent:]]
            assert answers == [expected]
        assert await ledger(bot.harness.app) == before
    downloaded = [call.fields["file_id"] for call in api.of("getFile")]
    assert "declared-huge" not in downloaded, "a file declared too large is refused before downloading"
    assert not list((tmp_path / "uploads").iterdir())


async def test_garbage_and_foreign_button_presses_are_answered_and_cost_nothing(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,  # noqa: F811
) -> None:
    signer = CallbackSigner(TOKEN)
    async with open_telegram_bot(database, tmp_path, api, run_workers=False) as bot:
        await bot.say("/imagine a cat", user=BOB)  # job 1, queued
        await bot.say("/balance")
        before = await ledger(bot.harness.app)
        expired = en("button_expired")
        presses = [
            ("", expired),
            ("x" * 10_000, expired),
            ("j:1:r:1|" + "é" * 11, expired),  # a signature that is not even ASCII
            ("\ud800|\udfff", expired),
            ("j:1:r:1|AAAAAAAAAAA", expired),
            (signer.for_button(424242, Button(ActionKind.REROLL, "")), en("job_not_found", job=424242)),
            (signer.for_button(1, Button(ActionKind.VARY, "")), en("job_not_found", job=1)),
            (str(signer.for_choice(Choice("", "/imagine \x00\u200b"))), en("empty_prompt")),
        ]
        for data, expected in presses:
            await bot.press(data, message_id=1)
            answer = api.of("answerCallbackQuery")[-1]
            assert (answer.fields.get("text"), answer.fields.get("show_alert")) == (expected, True), data[:30]
        await _press_without_data(bot)
        assert api.of("answerCallbackQuery")[-1].fields["text"] == expired
        assert await ledger(bot.harness.app) == before


async def _press_without_data(bot: TelegramBot) -> None:
    """A game button's press carries `game_short_name` and no data at all."""
    query = {
        "id": "q-game",
        "from": {"id": ALICE, "is_bot": False, "first_name": "A", "language_code": "en"},
        "chat_instance": "ci",
        "game_short_name": "nosuchgame",
        "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": ALICE, "type": "private"}},
    }
    await bot.deliver({"update_id": bot.api.next_update_id(), "callback_query": query})
