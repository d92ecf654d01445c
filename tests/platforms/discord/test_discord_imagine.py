"""`/imagine` on Discord: typed options, a deferred answer, progress, and the result with its buttons."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from core.commands.catalogue import PUBLISHED
from core.i18n import translate
from tests.fakes.discord_api import APPLICATION_ID, DiscordDouble
from tests.platforms.discord.conftest import (
    ALICE,
    TRIAL,
    DiscordBot,
    answered,
    buttons,
    callback,
    discord_bot,
    webhook,
)

FOUR_BUTTONS = ["🔁 Reroll", "⬆️ Upscale 2K", "⬆️ Upscale 4K", "✨ Vary"]


def _picture(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


async def test_the_commands_are_published_with_their_options_and_choices(bot: DiscordBot) -> None:
    [published] = bot.api.requests("PUT", f"/applications/{APPLICATION_ID}/commands")
    commands = {command["name"]: command for command in published.body}
    assert list(commands) == [entry.name for entry in PUBLISHED]  # the core's catalogue, in its order
    assert commands["help"]["description"] == translate("en", "menu.help")
    imagine = commands["imagine"]
    assert imagine["name_localizations"] == {"zh-CN": "画"}
    assert imagine["description"] == translate("en", "menu.imagine")
    assert imagine["description_localizations"] == {"zh-CN": translate("zh-CN", "menu.imagine")}
    assert imagine["contexts"] == [0, 1]  # guilds and DMs with the bot
    options = {option["name"]: option for option in imagine["options"]}
    assert list(options) == ["prompt", "aspect", "style", "resolution", "model", "reference", "reference2"]
    assert (options["prompt"]["type"], options["prompt"]["required"]) == (3, True)
    assert options["prompt"]["name_localizations"] == {"zh-CN": "提示词"}
    assert [choice["value"] for choice in options["resolution"]["choices"]] == ["1k", "2k", "4k"]
    assert "16:9" in [choice["value"] for choice in options["aspect"]["choices"]]
    anime = next(choice for choice in options["style"]["choices"] if choice["value"] == "anime")
    assert (anime["name"], anime["name_localizations"]) == ("Anime", {"zh-CN": "动漫"})
    assert [choice["value"] for choice in options["model"]["choices"]] == [
        "gpt-image-2",
        "gpt-image-1.5",
        "gpt-image-1",
    ]
    assert [options[name]["type"] for name in ("reference", "reference2")] == [11, 11]
    assert not any(option.get("required") for name, option in options.items() if name != "prompt")
    assert commands["balance"]["name_localizations"] == {"zh-CN": "余额"}
    assert commands["balance"].get("options", []) == []


async def test_imagine_is_deferred_then_followed_up_with_the_image_and_its_buttons(bot: DiscordBot) -> None:
    asked = bot.imagine("a castle", aspect="16:9")
    [followup] = await bot.api.wait_for("POST", webhook(asked))
    [answer] = bot.api.requests("POST", callback(asked))
    assert answer.body == {"type": 5}  # "thinking…", visible to the channel
    first_edit = bot.api.requests("PATCH", webhook(asked, original=True))[0]
    assert first_edit.body["content"].startswith("Job #1 queued (position 1)")
    assert [label for label, _ in buttons(first_edit.body)] == ["✖️ Cancel"]
    [upload] = followup.uploads
    with _picture(upload.data) as picture:
        assert (picture.format, picture.size) == ("PNG", (1360, 768))
    caption = followup.body["content"]
    assert caption.startswith("“a castle”\n1360×768 · None (as written) · 10 credits · balance 30")
    assert [label for label, _ in buttons(followup.body)] == [*FOUR_BUTTONS, "📄 Original file", "🚩 Report"]
    assert buttons(followup.body)[0][1] == "i2b:job:1:reroll:1"
    assert followup.body.get("flags", 0) & 64 == 0  # everyone in the channel sees the result
    assert await bot.balance() == TRIAL - 10
    edits = await bot.api.wait_for("PATCH", webhook(asked, original=True), count=2)
    assert bot.api.original(asked)["components"] == []  # Cancel is gone once the image is there
    assert len(edits) == 2  # progress waiting for its turn was dropped when the result came


async def test_previews_replace_each_other_in_the_answer(discord_api: DiscordDouble, tmp_path: Path) -> None:
    previews = {"partial_images": 2}
    async with discord_bot(discord_api, tmp_path, progress_interval_s=0.0, generation=previews) as bot:
        asked = bot.imagine("a castle", aspect="16:9", style="anime", resolution="1k")
        await bot.api.wait_for("POST", webhook(asked))
    edits = [call.body for call in discord_api.requests("PATCH", webhook(asked, original=True))]
    texts = [edit.get("content") for edit in edits]
    assert "Job #1: drawing 1360×768…" in texts
    previews = [call for call in discord_api.requests("PATCH", webhook(asked, original=True)) if call.uploads]
    assert [call.body["content"] for call in previews] == ["Job #1: preview 1", "Job #1: preview 2"]
    with _picture(previews[-1].uploads[0].data) as preview:
        assert preview.size == (1360, 768)
    assert all(buttons(call.body) == [("✖️ Cancel", "i2b:cmd:/cancel 1")] for call in previews)


async def test_an_image_over_the_upload_limit_arrives_as_a_jpeg_within_it(bot: DiscordBot) -> None:
    limit = 150_000
    # Falling snow and stars: a picture whose PNG is well over the limit.
    asked = bot.imagine("a castle in the snow at night", aspect="16:9", size_limit=limit)
    [followup] = await bot.api.wait_for("POST", webhook(asked))
    [upload] = followup.uploads
    assert upload.filename == "job-1-1.jpg"
    assert len(upload.data) <= limit
    with _picture(upload.data) as picture:
        assert picture.format == "JPEG"
    original = await bot.harness.app.storage.read("outputs/job-1-1.png")
    assert len(original) > limit  # the PNG itself would have been refused
    assert "📄 Original file" in [label for label, _ in buttons(followup.body)]


async def test_a_refused_option_is_explained_to_the_asker_alone_and_costs_nothing(bot: DiscordBot) -> None:
    asked = bot.imagine("a castle --ar 5:1")
    answer = await answered(bot.api, asked)
    assert answer["flags"] == 64
    expected = translate("en", "error.ratio_out_of_range", value="5:1", min="1:3", max="3:1")
    assert answer["content"] == expected
    assert await bot.balance() == TRIAL
    assert await bot.harness.jobs_of(1) == []


async def test_typed_options_and_flags_written_in_the_prompt_both_count(bot: DiscordBot) -> None:
    asked = bot.imagine("a castle --style anime", aspect="16:9")
    [followup] = await bot.api.wait_for("POST", webhook(asked))
    [upload] = followup.uploads
    with _picture(upload.data) as picture:
        assert picture.size == (1360, 768)
    assert followup.body["content"].startswith("“a castle”\n1360×768 · Anime")


async def test_an_option_given_both_typed_and_in_the_prompt_is_refused_as_repeated(bot: DiscordBot) -> None:
    asked = bot.imagine("a castle --ar 1:1", aspect="16:9")
    answer = await answered(bot.api, asked)
    assert answer["content"] == translate("en", "error.flag_repeated", flag="--ar")
    assert answer["flags"] == 64
    assert await bot.harness.jobs_of(1) == []


async def test_an_option_from_an_outdated_command_list_is_refused(bot: DiscordBot) -> None:
    asked = bot.imagine("a castle", style="retro")
    answer = await answered(bot.api, asked)
    assert answer["flags"] == 64
    assert answer["content"].startswith("Unknown style retro.")


async def test_a_chinese_client_is_answered_in_chinese(bot: DiscordBot) -> None:
    asked = bot.imagine("城堡", aspect="16:9", locale="zh-CN")
    [followup] = await bot.api.wait_for("POST", webhook(asked))
    assert buttons(followup.body)[0][0] == translate("zh-CN", "action.reroll")
    first_edit = bot.api.requests("PATCH", webhook(asked, original=True))[0]
    assert first_edit.body["content"] == translate(
        "zh-CN", "job.queued", job=1, position=1, cost=10, balance=30
    )


async def test_a_reference_attachment_is_downloaded_and_drawn_from(bot: DiscordBot) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), (10, 200, 30)).save(buffer, format="PNG")
    sketch = bot.api.attachment(buffer.getvalue(), "sketch.png")
    asked = bot.deliver(
        bot.api.slash("imagine", {"prompt": "make it dreamy"}, attachments={"reference": sketch}, who=ALICE)
    )
    await bot.api.wait_for("POST", webhook(asked))
    job = await bot.harness.app.core.services.jobs.get(1)
    assert job is not None
    assert len(job.references) == 1


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_an_answer_that_needs_a_download_is_deferred_first(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    async with discord_bot(discord_api, tmp_path) as bot:
        sketch = bot.api.attachment(_png(320, 200), "sketch.png")
        bot.api.downloads_open.clear()  # the core is still fetching the reference
        asked = bot.deliver(
            bot.api.slash(
                "imagine", {"prompt": "make it dreamy"}, attachments={"reference": sketch}, who=ALICE
            )
        )
        [answer] = await bot.api.wait_for("POST", callback(asked))
        assert answer.body == {"type": 5}
        assert bot.api.requests("PATCH", webhook(asked, original=True)) == []
        bot.api.downloads_open.set()
        [followup] = await bot.api.wait_for("POST", webhook(asked))
        assert followup.body["content"].startswith("“make it dreamy”")
        assert (
            bot.api.requests("PATCH", webhook(asked, original=True))[0].body["content"].startswith("Job #1")
        )


async def test_a_refusal_after_a_visible_deferral_is_shown_to_the_asker_alone(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    async with discord_bot(discord_api, tmp_path) as bot:
        notes = bot.api.attachment(b"not a picture", "notes.png")
        bot.api.downloads_open.clear()
        asked = bot.deliver(
            bot.api.slash("imagine", {"prompt": "a castle"}, attachments={"reference": notes}, who=ALICE)
        )
        await bot.api.wait_for("POST", callback(asked))
        bot.api.downloads_open.set()
        [followup] = await bot.api.wait_for("POST", webhook(asked))
        assert followup.body["flags"] == 64
        assert followup.body["content"] == translate("en", "error.reference_not_image", name="notes.png")
        assert bot.api.requests("DELETE", webhook(asked, original=True))  # the "thinking" everyone saw
        assert await bot.balance() == TRIAL
