"""`/settings`, `/language`, `/styles`: per-user defaults and choices."""

from __future__ import annotations

from core.commands.context import Context
from core.commands.imagine import OPTION_ALIASES, style_name
from core.commands.parser import Command
from core.commands.suggest import closest
from core.errors import UserError
from core.generation.sizes import AspectRatio, parse_tier
from core.i18n import LANGUAGES, Translator, normalize_language
from core.i18n.local_time import ZONE_KEY, Clock, parse_zone, zone_of
from core.messages import Choice, Menu, Reply, text

SETTINGS = ("ar", "style", "res", "model")
ZONE_NAMES = {"tz": ZONE_KEY, "timezone": ZONE_KEY, "zone": ZONE_KEY, "时区": ZONE_KEY}
SETTING_FLAGS = {
    **{name: setting for name, setting in OPTION_ALIASES.items() if setting in SETTINGS},
    **ZONE_NAMES,
}
LANGUAGE_NAMES = {"en": "English", "zh-CN": "简体中文"}
LANGUAGE_WORDS = {"english": "en", "中文": "zh-CN", "chinese": "zh-CN", "简体中文": "zh-CN"}


async def settings(ctx: Context, command: Command) -> list[Reply]:
    """`/settings` shows; `/settings ar 16:9`, `/settings --style anime`, `/settings tz Asia/Shanghai`,
    `/settings reset` change (a reset leaves the time zone: it is no default of /imagine)."""
    changes = dict(command.flags)
    words = command.words
    if words and words[0].lower() == "reset":
        kept = {key: value for key, value in ctx.account.preferences.items() if key == ZONE_KEY}
        await ctx.services.accounts.set_preferences(ctx.account.id, kept)
        return [text(ctx.t("settings.reset"), choices=_settings_menu(ctx, kept))]
    if len(words) > 2 and setting_name(words[0]) == ZONE_KEY:  # `/settings tz new york`
        words = [words[0], " ".join(words[1:])]
    if len(words) == 2:
        if setting_name(words[0]) in {setting_name(flag) for flag in changes}:
            raise UserError("settings_usage")
        changes[words[0].lower()] = words[1]
    elif words:
        raise UserError("settings_usage")
    if not changes:
        preferences = ctx.account.preferences
        return [text(_describe(ctx, preferences), choices=_settings_menu(ctx, preferences))]
    preferences = dict(ctx.account.preferences)
    for name, value in changes.items():
        key = setting_name(name)
        if key is None:
            meant = closest(name, SETTING_FLAGS)
            if meant is None:
                raise UserError("unknown_setting", name=name)
            raise UserError("unknown_setting_suggest", name=name, suggestion=meant)
        preferences[key] = _validated(ctx, key, value)
    await ctx.services.accounts.set_preferences(ctx.account.id, preferences)
    return [
        text(
            ctx.t("settings.saved") + "\n" + _describe(ctx, preferences),
            choices=_settings_menu(ctx, preferences),
        )
    ]


MENU_RATIOS = ("1:1", "3:2", "2:3", "16:9", "9:16")
MENU_STYLES = 6


def _settings_menu(ctx: Context, preferences: dict[str, str]) -> Menu:
    """One row per setting, the current value ticked; a press saves that value."""

    def row(key: str, values: list[tuple[str, str]], current: str) -> tuple[Choice, ...]:
        return tuple(
            Choice(("✓ " if value == current else "") + label, f"/settings {key} {value}")
            for value, label in values
        )

    styles = ctx.services.styles.all()[:MENU_STYLES]
    style_values = [(style.name, style.label(ctx.language)) for style in styles]
    current_style = preferences.get("style", "none")
    rows = (
        row("ar", [(ratio, ratio) for ratio in MENU_RATIOS], preferences.get("ar", "1:1")),
        row("res", [(tier, tier.upper()) for tier in ("1k", "2k", "4k")], preferences.get("res", "1k")),
        row("style", style_values[:3], current_style),
        row("style", style_values[3:], current_style),
        (Choice(ctx.t("action.reset"), "/settings reset"),),
    )
    return tuple(choices for choices in rows if choices)


def setting_name(word: str) -> str | None:
    """The /imagine option a default can be saved for (all but --n), or the time zone, by any name."""
    return SETTING_FLAGS.get(word.lower())


def _validated(ctx: Context, key: str, value: str) -> str:
    if key == "ar":
        return str(AspectRatio.parse(value))
    if key == "res":
        return parse_tier(value).value
    if key == "style":
        return style_name(ctx.services.styles, value)
    if key == ZONE_KEY:
        return parse_zone(value)
    if value not in ctx.services.generation.models:
        raise UserError("unknown_model", value=value, models=", ".join(ctx.services.generation.models))
    return value


def _describe(ctx: Context, preferences: dict[str, str]) -> str:
    defaults = ctx.t(
        "settings.current",
        ar=preferences.get("ar", "1:1"),
        style=ctx.services.styles.label_of(preferences.get("style", "none"), ctx.language),
        res=preferences.get("res", "1k"),
        model=preferences.get("model", ctx.services.generation.model),
    )
    clock = Clock(ctx.language, zone_of(preferences, ctx.language))
    chosen = "local_time.setting" if ZONE_KEY in preferences else "local_time.setting_default"
    return defaults + "\n" + ctx.t(chosen, zone=clock.zone_label())


async def language(ctx: Context, command: Command) -> list[Reply]:
    if not command.words:
        options = ", ".join(f"{code} ({name})" for code, name in LANGUAGE_NAMES.items())
        menu = (
            tuple(
                Choice(("✓ " if code == ctx.language else "") + name, f"/language {code}")
                for code, name in LANGUAGE_NAMES.items()
            ),
        )
        message = ctx.t("language.current", language=LANGUAGE_NAMES[ctx.language], options=options)
        return [text(message, choices=menu)]
    word = command.words[0]
    chosen = LANGUAGE_WORDS.get(word.lower()) or normalize_language(word)
    if chosen is None or chosen not in LANGUAGES:
        raise UserError("unknown_language", value=word, options=", ".join(LANGUAGES))
    await ctx.services.accounts.set_language(ctx.account.id, chosen)
    return [text(Translator(chosen)("language.set", language=LANGUAGE_NAMES[chosen]))]


async def styles(ctx: Context, _command: Command) -> list[Reply]:
    lines = [ctx.t("styles.title")]
    lines.extend(f"  {style.name} — {style.label(ctx.language)}" for style in ctx.services.styles.all())
    lines.append(ctx.t("styles.hint"))
    return [text("\n".join(lines))]
