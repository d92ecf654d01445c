"""The README's command table, `/help` in both languages and the commands each door registers agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.commands.catalogue import CATALOGUE, MENU, PUBLISHED
from core.commands.router import ALIASES, HANDLERS
from core.i18n import LANGUAGES, translate
from tests.fakes.discord_api import APPLICATION_ID, DiscordDouble
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import sqlite_target
from tests.platforms.discord.conftest import discord_bot
from tests.platforms.telegram.conftest import TOKEN, open_telegram_bot

README = Path(__file__).resolve().parents[3] / "README.md"
TELEGRAM_LANGUAGE_CODES = {"en": None, "zh-CN": "zh"}  # None: the menu for every other language


def readme_commands() -> set[str]:
    """The commands the README's "Commands" table lists, aliases (`/mydata`) read as their command."""
    table = README.read_text(encoding="utf-8").split("## Commands\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    first_cells = [row[2:].split(" | ", 1)[0] for row in rows]
    return {ALIASES.get(name, name) for cell in first_cells for name in re.findall(r"`/([a-z]+)", cell)}


def help_commands(language: str) -> set[str]:
    """The commands `/help` names, aliases (`/lang`) read as their command."""
    shown = translate(language, "help.text", k1=10, k2=20, k4=40)
    return {ALIASES.get(name, name) for name in re.findall(r"(?<![\w/-])/([a-z]+)", shown)}


def help_aliases(language: str) -> dict[str, str]:
    """The aliases `/help` names, each with the command it is written beside."""
    shown = translate(language, "help.text", k1=10, k2=20, k4=40)
    named = re.findall(r"/([a-z]+)（(?:或 )?([^）]+)）|/([a-z]+) \(or ([^)]+)\)", shown)
    return {
        alias.strip().removeprefix("/"): command or command_en
        for command, aliases, command_en, aliases_en in named
        for alias in re.split("[、,]", aliases or aliases_en)
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_readme_and_help_list_every_command_of_the_catalogue(language: str) -> None:
    assert readme_commands() == {entry.name for entry in CATALOGUE}
    assert help_commands(language) == {entry.name for entry in PUBLISHED}  # not the admins' /grant
    assert {entry.name for entry in CATALOGUE} <= {*HANDLERS, "action"}  # the core answers each


@pytest.mark.parametrize("language", LANGUAGES)
def test_help_names_each_alias_of_its_language_beside_its_command(language: str) -> None:
    """Chinese aliases in the Chinese help; the Latin ones (`/lang`, `/mydata`) in both."""
    expected = {alias: ALIASES[alias] for alias in ALIASES if alias.isascii() or language == "zh-CN"}
    assert help_aliases(language) == expected


async def test_each_door_registers_the_catalogues_commands(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    async with discord_bot(discord_api, tmp_path / "discord"):
        [published] = discord_api.requests("PUT", f"/applications/{APPLICATION_ID}/commands")
    assert [command["name"] for command in published.body] == [entry.name for entry in PUBLISHED]
    assert {command["name"] for command in published.body} == help_commands("en") == help_commands("zh-CN")

    telegram = TelegramBotAPIDouble(TOKEN)
    await telegram.start()
    try:
        async with open_telegram_bot(sqlite_target(tmp_path), tmp_path, telegram):
            menus = {
                call.fields.get("language_code"): call.fields["commands"]
                for call in telegram.of("setMyCommands")
            }
    finally:
        await telegram.stop()
    for language, code in TELEGRAM_LANGUAGE_CODES.items():
        assert menus[code] == [
            {"command": name, "description": translate(language, f"menu.{name}")} for name in MENU
        ]
        assert {item["command"] for item in menus[code]} <= help_commands(language)
