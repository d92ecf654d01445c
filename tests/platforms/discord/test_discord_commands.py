"""Every command of the catalogue is a slash command on Discord, within Discord's rules, in English and
Chinese; and every button the bot shows is answered within Discord's 3 seconds (a job's Cancel, shown
only while it waits, is pressed in test_discord_buttons)."""

from __future__ import annotations

import copy
import functools
import re
import time
from pathlib import Path
from typing import Any

import pytest

from core.commands.catalogue import PUBLISHED
from core.i18n import translate
from tests.core.payments.conftest import shop_settings
from tests.fakes.discord_api import APPLICATION_ID, DiscordDouble
from tests.fakes.discord_schema import command_errors
from tests.fakes.stripe_api import StripeAPIDouble
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.platforms.discord.conftest import (
    ALICE,
    DiscordBot,
    answered,
    buttons,
    callback,
    discord_bot,
    webhook,
)

LANGUAGES = pytest.mark.parametrize("language", ["en", "zh-CN"])
ANSWER_WITHIN_S = 3.0
ERASE = "i2b:cmd:/delete #"


async def test_every_command_is_published_within_discords_rules_in_both_languages(bot: DiscordBot) -> None:
    [published] = bot.api.requests("PUT", f"/applications/{APPLICATION_ID}/commands")
    assert command_errors(published.body) == []
    assert bot.api.refused_commands == []
    commands = {command["name"]: command for command in published.body}
    assert list(commands) == [entry.name for entry in PUBLISHED]
    assert {
        "accept",
        "terms",
        "export",
        "profile",
        "delete",
        "consent",
        "marketing",
        "link",
        "unlink",
    } <= set(commands)
    assert {"subscription", "invoices", "original", "action"} <= set(commands)
    assert "grant" not in commands  # admins only: to anyone else it does not exist
    for entry in PUBLISHED:
        command = commands[entry.name]
        assert command["description"] == translate("en", f"menu.{entry.name}")
        assert command["description_localizations"] == {"zh-CN": translate("zh-CN", f"menu.{entry.name}")}
        if entry.name == "imagine":  # its options are the prompt's flags, typed (test_discord_imagine)
            continue
        options = {option["name"]: option for option in command.get("options", [])}
        assert set(options) == {option.name for option in entry.options}, entry.name
        for option in entry.options:
            sent = options[option.name]
            key = f"options.{entry.name}.{option.name}"
            assert (sent["description"], sent["description_localizations"]) == (
                translate("en", key),
                {"zh-CN": translate("zh-CN", key)},
            )
            assert sent["type"] == (4 if option.integer else 3)
            assert sent.get("required", False) == option.required
            assert [choice["value"] for choice in sent.get("choices", [])] == list(option.choices)
            assert sent.get("min_value") == option.low


def _command(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "description": "Something", "type": 1, **fields}


def _option(name: str, **fields: Any) -> dict[str, Any]:
    return {"type": 3, "name": name, "description": "Something", **fields}


@pytest.mark.parametrize(
    ("commands", "refused"),
    [
        ([_command("Imagine")], "no command name"),
        ([_command("two words")], "no command name"),
        ([_command("x" * 33)], "is too long"),
        ([_command("help", description="d" * 101)], "is too long"),
        ([_command("help", name_localizations={"zh-CN": "帮 助"})], "no command name"),
        ([_command("help", options=[_option(f"o{i}") for i in range(26)])], "is too long"),
        ([_command("help", options=[_option("a"), _option("b", required=True)])], "required option after"),
        (
            [_command("help", options=[_option("a", choices=[{"name": "c", "value": "c"}] * 26)])],
            "is too long",
        ),
        ([_command("help", options=[_option(f"o{i}", description="d" * 100) for i in range(25)])], None),
        (
            [
                _command(
                    "help",
                    options=[
                        _option(f"o{i}", description="d" * 100, description_localizations={"fr": "d" * 100})
                        for i in range(25)
                    ],
                )
            ],
            "characters, at most 4000",
        ),
        ([_command(f"c{i}") for i in range(101)], "at most 100"),
        ([_command("help"), _command("help")], "listed twice"),
    ],
)
def test_discords_rules_are_checked(commands: list[dict[str, Any]], refused: str | None) -> None:
    errors = command_errors(commands)
    if refused is None:
        assert errors == []
    else:
        assert any(refused in error for error in errors), errors


@LANGUAGES
async def test_the_privacy_rights_and_the_typed_buttons_are_slash_commands(
    discord_api: DiscordDouble, tmp_path: Path, language: str
) -> None:
    async with discord_bot(discord_api, tmp_path) as bot:
        await bot.api.wait_for("POST", webhook(bot.imagine("a castle", guild=False, locale=language)))

        def slash(name: str, **options: str | int) -> dict[str, Any]:
            return bot.deliver(bot.api.slash(name, options, who=ALICE, guild=False, locale=language))

        original = await answered(bot.api, slash("original", job=1, image=1))
        assert original["content"] == translate(language, "original.caption", job=1, index=1)
        consent = await answered(bot.api, slash("consent", consent="analytics", switch="on"))
        assert consent["content"] == translate(language, "privacy.consent.analytics_on")
        link = await answered(bot.api, slash("link"))
        code = re.search(r"[A-Z0-9]{8}", link["content"])
        assert code is not None
        assert link["content"] == translate(language, "privacy.link.code", code=code[0])
        upscaled = slash("action", job=1, kind="upscale-2k")
        [followup] = await bot.api.wait_for("POST", webhook(upscaled))
        assert followup.uploads[0].filename == "job-2-1.png"


def _kind(custom_id: str) -> str:
    """A button with its numbers and codes left out: one press of each kind is enough."""
    prefix, rest = custom_id.split(":", 1)
    return prefix + ":" + re.sub(r"\b[A-Z0-9]{6,}\b|\d+", "#", rest)


@LANGUAGES
async def test_every_button_the_bot_shows_is_answered_within_three_seconds(
    discord_api: DiscordDouble,
    stripe_api: StripeAPIDouble,  # noqa: F811
    tmp_path: Path,
    language: str,
) -> None:
    async with discord_bot(
        discord_api,
        tmp_path,
        privacy={"require_acceptance": True},
        credits={"trial": 1000},
        stripe=shop_settings(stripe_api),
    ) as bot:
        for name in ("imagine", "accept"):  # the gate's button, then the terms accepted
            await answered(bot.api, _slash(bot, language, name, prompt="a castle"))
        await bot.api.wait_for("POST", webhook(_slash(bot, language, "imagine", prompt="a castle")))
        for name in ("settings", "language", "privacy", "consent", "delete", "buy", "subscription"):
            await answered(bot.api, _slash(bot, language, name))

        pressed: dict[str, float] = {}
        jobs = 1
        while new := _unpressed(bot.api, pressed):
            for message, custom_id in new:
                start = time.monotonic()
                asked = bot.deliver(
                    bot.api.press(message, custom_id, who=ALICE, guild=False, locale=language)
                )
                await answered(bot.api, asked)
                [acknowledged] = bot.api.requests("POST", callback(asked))
                pressed[_kind(custom_id)] = acknowledged.at - start
                jobs += custom_id.startswith("i2b:job:")
            await bot.api.until(functools.partial(_finished, bot.api, jobs))  # results show their buttons

    assert {
        "i2b:cmd:/accept",
        "i2b:job:#:reroll:#",
        "i2b:job:#:upscale-#k:#",
        "i2b:job:#:vary:#",
        "i2b:cmd:/original # #",
        "i2b:cmd:/settings ar #:#",
        "i2b:cmd:/settings reset",
        "i2b:cmd:/language zh-CN",
        "i2b:cmd:/export",
        "i2b:cmd:/profile",
        "i2b:cmd:/consent",
        "i2b:cmd:/consent analytics on",
        "i2b:cmd:/link",
        "i2b:cmd:/buy starter",
        "i2b:cmd:/delete",
        ERASE,
    } <= set(pressed)
    slow = {kind: seconds for kind, seconds in pressed.items() if seconds >= ANSWER_WITHIN_S}
    assert slow == {}


def _slash(bot: DiscordBot, language: str, name: str, **options: str) -> dict[str, Any]:
    return bot.deliver(bot.api.slash(name, options, who=ALICE, guild=False, locale=language))


def _unpressed(api: DiscordDouble, pressed: dict[str, float]) -> list[tuple[dict[str, Any], str]]:
    """A button of each kind not pressed yet; the confirmed erasure last, once nothing else is new
    (and every job has finished)."""
    found: dict[str, tuple[dict[str, Any], str]] = {}
    for message in list(api.messages.values()):
        for _label, custom_id in buttons(message):
            if (kind := _kind(custom_id)) not in pressed:
                found.setdefault(kind, (copy.deepcopy(message), custom_id))  # as it was shown
    others = [button for kind, button in found.items() if kind != ERASE]
    return others or list(found.values())


def _finished(api: DiscordDouble, jobs: int) -> bool | None:
    """Whether `jobs` jobs delivered their first image."""
    return (
        jobs
        <= len(
            {
                upload.filename
                for call in api.calls
                for upload in call.uploads
                if re.fullmatch(r"job-\d+-1\.png", upload.filename) and call.status < 300
            }
        )
        or None
    )
