"""The slash commands: `/imagine` with typed options, and one command per entry of the core's catalogue.

A catalogue command reaches the core as its text (`/original 3 2`, its options' values in the
catalogue's order); `/imagine` as a command built from its typed options, never turned back into
text, so Discord adds no behaviour of its own. A command needs no code here: it is listed from the
catalogue and described by `menu.<name>` and `options.<name>.<option>` in the catalogs. Names and
descriptions are localized for every catalog language besides English (Discord shows the user's).
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Sequence
from typing import Any, Protocol

import discord
from discord import app_commands
from discord.app_commands import locale_str

from core.commands import catalogue
from core.commands.parser import Command
from core.commands.router import ALIASES
from core.generation.styles import Style
from core.i18n import FALLBACK, LANGUAGES, normalize_language, translate

PLAIN_COMMANDS = tuple(entry for entry in catalogue.PUBLISHED if entry.name != "imagine")
# Commands whose answer the whole channel sees; the others answer the asker alone (balances, payments,
# privacy, support). Known before the core runs, so the deferral already shows to the right people.
PUBLIC = frozenset({"imagine", "help", "settings", "styles", "language", "cancel"})
ASPECTS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21")
RESOLUTIONS = ("1k", "2k", "4k")
MAX_CHOICES = 25
MAX_DESCRIPTION = 100
CONTEXTS = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False)
INSTALLS = app_commands.AppInstallationType(guild=True, user=False)

# /imagine's options: English description, then the Chinese name and description.
IMAGINE_OPTIONS: dict[str, tuple[str, str, str]] = {
    "prompt": (
        "Describe the picture; --ar, --style and the other options work here too",
        "提示词",
        "描述画面",
    ),
    "aspect": ("Width:height of the picture", "比例", "画面宽高比"),
    "style": ("A look for the picture", "风格", "画面风格"),
    "resolution": ("1K, 2K or 4K; larger costs more", "分辨率", "1K、2K 或 4K，越大越贵"),
    "model": ("The image model", "模型", "图像模型"),
    "reference": ("An image to start from", "参考图", "作为参考的图片"),
    "reference2": ("A second reference image", "参考图2", "第二张参考图"),
}
CHINESE = "zh-CN"


class CommandHandler(Protocol):
    async def run_command(
        self,
        interaction: discord.Interaction,
        command: Command | str,
        attachments: Sequence[discord.Attachment] = (),
        *,
        public: bool = False,
    ) -> None:
        """`public`: the answer is for everyone in the channel (refusals still go to the asker alone)."""
        ...


class DoorTree(app_commands.CommandTree[Any]):
    """A slash command Discord still offers but this version does not have (renamed, removed, or
    published to other guilds) reaches the core as typed text, which answers it like any command."""

    def __init__(
        self, client: discord.Client, handler: CommandHandler, guilds: Sequence[discord.Object]
    ) -> None:
        super().__init__(client)
        self._handler = handler
        self._guilds = tuple(guilds)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        data: Any = interaction.data or {}
        if interaction.type != discord.InteractionType.application_command or data.get("type", 1) != 1:
            return True
        known = {
            command.name for guild in (None, *self._guilds) for command in self.get_commands(guild=guild)
        }
        if data.get("name") in known:
            return True
        await self._handler.run_command(interaction, f"/{data.get('name', '')}")  # to the asker alone
        return False


class Translations(app_commands.Translator):
    """Serves the translations each `locale_str` carries in its `translations` extra."""

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        translations: dict[str, str] = string.extras.get("translations", {})
        return translations.get(locale.value)


def build_tree(
    client: discord.Client,
    handler: CommandHandler,
    *,
    styles: Sequence[Style],
    models: Sequence[str],
    guild_ids: Sequence[int] = (),
) -> app_commands.CommandTree[Any]:
    """Global commands, or commands of those guilds only (they update at once; global ones can lag)."""
    guilds = [discord.Object(id=guild_id) for guild_id in guild_ids]
    tree = DoorTree(client, handler, guilds)
    for command in (imagine(handler, styles, models), *(plain(handler, entry) for entry in PLAIN_COMMANDS)):
        if guilds:
            tree.add_command(command, guilds=guilds)
        else:
            tree.add_command(command)
    return tree


def imagine(
    handler: CommandHandler, styles: Sequence[Style], models: Sequence[str]
) -> app_commands.Command[Any, ..., None]:
    async def callback(
        interaction: discord.Interaction,
        prompt: str,
        aspect: str | None = None,
        style: str | None = None,
        resolution: str | None = None,
        model: str | None = None,
        reference: discord.Attachment | None = None,
        reference2: discord.Attachment | None = None,
    ) -> None:
        options = {"ar": aspect, "style": style, "res": resolution, "model": model}
        command = Command("imagine", prompt, {flag: value for flag, value in options.items() if value})
        given = [item for item in (reference, reference2) if item is not None]
        references = [item for item in given if isinstance(item, discord.Attachment)]
        if len(references) < len(given):  # Discord named an attachment it did not include
            await _refuse_missing_reference(interaction)
            return
        await handler.run_command(interaction, command, references, public=True)

    command = _command("imagine", callback)
    app_commands.rename(
        **{option: _text(option, chinese) for option, (_, chinese, _) in IMAGINE_OPTIONS.items()}
    )(command)
    app_commands.describe(
        **{option: _text(english, chinese) for option, (english, _, chinese) in IMAGINE_OPTIONS.items()}
    )(command)
    app_commands.choices(
        aspect=[app_commands.Choice(name=ratio, value=ratio) for ratio in ASPECTS],
        resolution=[app_commands.Choice(name=tier.upper(), value=tier) for tier in RESOLUTIONS],
        style=[app_commands.Choice(name=_labels(style), value=style.name) for style in styles[:MAX_CHOICES]],
        model=[app_commands.Choice(name=name, value=name) for name in models[:MAX_CHOICES]],
    )(command)
    return command


async def _refuse_missing_reference(interaction: discord.Interaction) -> None:
    language = normalize_language(interaction.locale.value) or FALLBACK
    await interaction.response.send_message(translate(language, "error.reference_missing"), ephemeral=True)


def plain(handler: CommandHandler, entry: catalogue.Entry) -> app_commands.Command[Any, ..., None]:
    """A catalogue command: its options as typed as the catalogue says, their values typed back as words."""

    async def callback(interaction: discord.Interaction, **given: object) -> None:
        await handler.run_command(interaction, catalogue.words(entry, given), public=entry.name in PUBLIC)

    # discord.py reads the options from the callback's signature: this one is built from the catalogue.
    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(_parameter(option) for option in entry.options),
        ]
    )
    command = _command(entry.name, callback)
    if entry.options:
        app_commands.describe(
            **{option.name: _catalog(f"options.{entry.name}.{option.name}") for option in entry.options}
        )(command)
    listed = {option.name: option.choices for option in entry.options if option.choices}
    if listed:
        app_commands.choices(
            **{
                name: [app_commands.Choice(name=value, value=value) for value in values[:MAX_CHOICES]]
                for name, values in listed.items()
            }
        )(command)
    return command


def _parameter(option: catalogue.Option) -> inspect.Parameter:
    kind: Any = app_commands.Range[int, option.low, option.high] if option.integer else str
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=kind,
        default=inspect.Parameter.empty if option.required else None,
    )


def _command(name: str, callback: Any) -> app_commands.Command[Any, ..., None]:
    return app_commands.Command(
        name=_text(name, _chinese_name(name)),
        description=_catalog(f"menu.{name}"),
        callback=callback,
        allowed_contexts=CONTEXTS,
        allowed_installs=INSTALLS,
    )


def _catalog(key: str) -> locale_str:
    translations = {
        language: translate(language, key)[:MAX_DESCRIPTION] for language in LANGUAGES if language != FALLBACK
    }
    return locale_str(translate(FALLBACK, key)[:MAX_DESCRIPTION], translations=translations)


def _text(english: str, chinese: str | None) -> locale_str:
    return locale_str(english, translations={CHINESE: chinese} if chinese else {})


def _labels(style: Style) -> locale_str:
    translations = {language: style.label(language) for language in LANGUAGES if language != FALLBACK}
    return locale_str(style.label(FALLBACK), translations=translations)


def _chinese_name(command: str) -> str | None:
    """The core's first Chinese alias of a command (`/画` for `/imagine`), its name in zh-CN."""
    return next(
        (
            alias
            for alias, target in ALIASES.items()
            if target == command and all(unicodedata.name(char, "").startswith("CJK") for char in alias)
        ),
        None,
    )
