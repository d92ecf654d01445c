"""Buttons on Discord: actions under results, shortcuts under menus, and presses after a restart."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from core.i18n import translate
from tests.fakes.discord_api import CHANNEL_ID, DiscordDouble
from tests.harness import harness_for, sqlite_target
from tests.platforms.discord.conftest import (
    ALICE,
    BOB,
    TRIAL,
    DiscordBot,
    answered,
    buttons,
    callback,
    discord_bot,
    door,
    message_with,
    webhook,
)

UPSCALE_2K = "i2b:job:1:upscale-2k:1"


async def test_the_owner_upscales_and_anyone_else_is_told_it_cannot_be_found(bot: DiscordBot) -> None:
    await bot.api.wait_for("POST", webhook(bot.imagine("a castle", aspect="16:9")))
    result = message_with(bot.api, UPSCALE_2K)

    theirs = bot.deliver(bot.api.press(result, UPSCALE_2K, who=BOB))
    refusal = await answered(bot.api, theirs)
    assert (refusal["flags"], refusal["content"]) == (64, translate("en", "error.job_not_found", job=1))
    assert not refusal.get("components")
    assert bot.api.requests("DELETE", webhook(theirs, original=True))  # the "thinking" the channel saw

    mine = bot.deliver(bot.api.press(result, UPSCALE_2K, who=ALICE))
    [followup] = await bot.api.wait_for("POST", webhook(mine))
    assert bot.api.requests("POST", callback(mine))[0].body == {"type": 5}
    with Image.open(io.BytesIO(followup.uploads[0].data)) as upscaled:
        assert upscaled.size == (2720, 1536)
    assert [label for label, _ in buttons(followup.body)] == [
        "🔁 Reroll",
        "⬆️ Upscale 4K",
        "✨ Vary",
        "📄 Original file",
        "🚩 Report",
    ]
    assert await bot.balance() == TRIAL - 10 - 20
    assert await bot.balance(BOB) == TRIAL


async def test_a_press_reaches_a_restarted_bot(discord_api: DiscordDouble, tmp_path: Path) -> None:
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path) as harness:
        async with door(discord_api, harness) as before:
            await discord_api.wait_for("POST", webhook(before.imagine("a castle")))
        result = message_with(discord_api, "i2b:job:1:reroll:1")
        async with door(discord_api, harness) as after:
            again = after.deliver(discord_api.press(result, "i2b:job:1:reroll:1", who=ALICE))
            [followup] = await discord_api.wait_for("POST", webhook(again))
            assert followup.body["content"].startswith("“a castle”")
            assert "job #2" in followup.body["content"]


async def test_a_result_finished_after_a_restart_is_posted_to_the_channel(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        async with door(discord_api, harness) as before:
            asked = before.imagine("a castle")
            await discord_api.wait_for("PATCH", webhook(asked, original=True))
        async with door(discord_api, harness):
            worker = asyncio.create_task(harness.app.worker.run())
            try:
                [posted] = await discord_api.wait_for("POST", f"/channels/{CHANNEL_ID}/messages")
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
    assert posted.uploads[0].filename == "job-1-1.png"
    assert [custom for _, custom in buttons(posted.body)][:4] == [
        "i2b:job:1:reroll:1",
        "i2b:job:1:upscale-2k:1",
        "i2b:job:1:upscale-4k:1",
        "i2b:job:1:vary:1",
    ]
    assert discord_api.requests("POST", webhook(asked)) == []


async def test_cancel_turns_the_progress_into_its_end_for_the_owner_only(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    async with discord_bot(discord_api, tmp_path, run_workers=False) as bot:
        asked = bot.imagine("a castle")
        await bot.api.wait_for("PATCH", webhook(asked, original=True))
        progress = bot.api.original(asked)
        assert buttons(progress) == [("✖️ Cancel", "i2b:cmd:/cancel 1")]

        theirs = bot.deliver(bot.api.press(progress, "i2b:cmd:/cancel 1", who=BOB))
        refusal = await answered(bot.api, theirs)
        assert (refusal["flags"], refusal["in_place"]) == (64, False)
        assert refusal["content"] == translate("en", "error.job_not_found", job=1)

        mine = bot.deliver(bot.api.press(progress, "i2b:cmd:/cancel 1", who=ALICE))
        update = await answered(bot.api, mine)
        assert update["in_place"]  # the progress message itself changes
        ended = bot.api.original(asked)
        assert ended["content"] == translate("en", "cancel.done", job=1, credits=10, balance=TRIAL)
        assert ended["components"] == []
        assert await bot.balance() == TRIAL


async def test_a_menu_changes_in_place_for_its_owner_and_answers_others_privately(bot: DiscordBot) -> None:
    shown = bot.deliver(bot.api.slash("settings", who=ALICE))
    menu = await answered(bot.api, shown)
    assert menu["flags"] == 0  # the channel sees it
    assert ("16:9", "i2b:cmd:/settings ar 16:9") in buttons(menu)
    message = bot.api.original(shown)

    mine = bot.deliver(bot.api.press(message, "i2b:cmd:/settings ar 16:9", who=ALICE))
    update = await answered(bot.api, mine)
    assert update["in_place"]
    assert update["content"].startswith(translate("en", "settings.saved"))
    assert ("✓ 16:9", "i2b:cmd:/settings ar 16:9") in buttons(bot.api.original(shown))

    theirs = bot.deliver(bot.api.press(message, "i2b:cmd:/settings res 2k", who=BOB))
    private = await answered(bot.api, theirs)
    assert (private["in_place"], private["flags"]) == (False, 64)
    assert "resolution 2k" in private["content"]
    assert "aspect 1:1" in private["content"]  # Bob's own settings, not Alice's
    assert bot.api.original(shown)["content"] == update["content"]  # Alice's menu is left alone


async def test_the_balance_and_buy_are_private_and_offer_no_button_where_nothing_is_sold(
    bot: DiscordBot,
) -> None:
    asked = bot.deliver(bot.api.slash("balance", who=ALICE))
    answer = await answered(bot.api, asked)
    assert answer["flags"] == 64
    assert answer["content"].startswith(translate("en", "balance.total", total=TRIAL))
    assert translate("en", "buy.unavailable") in answer["content"]
    assert not answer.get("components")
    buy = await answered(bot.api, bot.deliver(bot.api.slash("buy", who=ALICE)))
    assert buy["flags"] == 64
    assert buy["content"].startswith(translate("en", "buy.unavailable"))


async def test_help_in_a_direct_message(bot: DiscordBot) -> None:
    asked = bot.deliver(bot.api.slash("help", who=BOB, guild=False, locale="zh-CN"))
    answer = await answered(bot.api, asked)
    assert answer["content"] == translate("zh-CN", "help.text", k1=10, k2=20, k4=40)
    assert answer.get("flags", 0) == 0


async def test_the_original_file_is_sent_to_its_owner_alone(bot: DiscordBot) -> None:
    await bot.api.wait_for("POST", webhook(bot.imagine("a castle", aspect="16:9")))
    result = message_with(bot.api, "i2b:cmd:/original 1 1")
    asked = bot.deliver(bot.api.press(result, "i2b:cmd:/original 1 1", who=ALICE))
    answer = await answered(bot.api, asked)
    assert (answer["flags"], answer["in_place"]) == (64, False)
    assert answer["content"] == translate("en", "original.caption", job=1, index=1)
    [sent] = bot.api.requests("POST", webhook(asked))
    assert sent.uploads[0].filename == "job-1-1.png"
    assert sent.uploads[0].data == await bot.harness.app.storage.read("outputs/job-1-1.png")
    assert bot.api.requests("PATCH", webhook(asked, original=True)) == []  # the result stays as it was


async def test_several_images_come_one_by_one_then_their_buttons(bot: DiscordBot) -> None:
    asked = bot.imagine("two castles --n 2")
    followups = await bot.api.wait_for("POST", webhook(asked), count=3)
    first, second, actions = (call.body for call in followups)
    assert [len(call.uploads) for call in followups] == [1, 1, 0]
    assert buttons(first) == [("📄 Original file", "i2b:cmd:/original 1 1")]
    assert buttons(second) == [("📄 Original file", "i2b:cmd:/original 1 2")]
    assert actions["content"] == translate("en", "job.actions_hint", job=1)
    assert [custom for _, custom in buttons(actions)] == [
        "i2b:job:1:reroll:1",
        "i2b:job:1:upscale-2k:1",
        "i2b:job:1:upscale-4k:1",
        "i2b:job:1:vary:1",
        "i2b:job:1:upscale-2k:2",
        "i2b:job:1:upscale-4k:2",
        "i2b:job:1:vary:2",
        "i2b:cmd:/report 1",
    ]
    assert [len(row["components"]) for row in actions["components"]] == [5, 2, 1]
