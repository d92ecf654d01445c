"""`/settings`, `/language`, `/styles` and the Chinese aliases, as a user sees them.

Runs on SQLite and PostgreSQL through the real core. Messages are compared with the catalog text.
"""

from __future__ import annotations

import pytest

from core.generation import styles
from core.i18n import translate
from core.messages import Stage
from tests.core.commands.chat import (
    DEFAULT_STYLES,
    MODELS,
    answer,
    en,
    error,
    says,
    zh,
)
from tests.harness import Harness

# --- /settings -----------------------------------------------------------------------------------


def current(ar: str = "1:1", style: str = "none", res: str = "1k", model: str = "gpt-image-2") -> str:
    """`/settings` for these defaults: the style shown by its label."""
    label = styles.StyleBook(list(styles.DEFAULT_STYLES)).label_of(style, "en")
    defaults = en("settings.current", ar=ar, style=label, res=res, model=model)
    return defaults + "\n" + en("local_time.setting_default", zone="UTC")


async def test_settings_show_the_defaults(idle: Harness) -> None:
    assert await says(idle, "/settings") == current()


async def test_saved_settings_are_used_by_imagine(idle: Harness) -> None:
    saved = en("settings.saved")
    assert await says(idle, "/settings ar 16:9") == f"{saved}\n{current(ar='16:9')}"
    assert await says(idle, "/settings --style Anime") == f"{saved}\n{current(ar='16:9', style='anime')}"
    assert await says(idle, "/settings") == current(ar="16:9", style="anime")

    job = await idle.imagine("a fox in the snow")
    queued = await idle.job(job)
    assert (queued.width, queued.height) == (1360, 768)
    assert (queued.ratio, queued.style, queued.tier, queued.cost) == ("16:9", "anime", "1k", 10)

    overridden = await idle.job(await idle.imagine("a fox --ar 1:1 --style photo"))
    assert (overridden.width, overridden.height, overridden.style) == (1024, 1024, "photo")


async def test_saved_resolution_and_model_are_used_by_imagine(idle: Harness) -> None:
    await says(idle, "/settings res 2k")
    job = await idle.job(await idle.imagine("a bridge"))
    assert (job.tier, job.cost, job.model, job.width) == ("2k", 20, "gpt-image-2", 2048)
    await says(idle, "/settings model gpt-image-1.5")
    fixed = await idle.job(await idle.imagine("a bridge"))
    # gpt-image-1.5 draws at most 1024x1024 for 1:1, so it is charged as 1k
    assert (fixed.model, fixed.width, fixed.height, fixed.cost) == ("gpt-image-1.5", 1024, 1024, 10)
    assert (await idle.balance()).total == 10


@pytest.mark.parametrize(
    ("message", "code", "params"),
    [
        ("/settings ar 4:1", "ratio_out_of_range", {"value": "4:1", "min": "1:3", "max": "3:1"}),
        ("/settings ar square", "bad_ratio", {"value": "square"}),
        (
            "/settings --style nosuch",
            "unknown_style",
            {"value": "nosuch", "styles": ", ".join(DEFAULT_STYLES)},
        ),
        ("/settings res 8k", "bad_resolution", {"value": "8k"}),
        ("/settings model dall-e-9", "unknown_model", {"value": "dall-e-9", "models": MODELS}),
        ("/settings colour red", "unknown_setting", {"name": "colour"}),
        ("/settings style", "settings_usage", {}),
        ("/settings ar 16:9 extra", "settings_usage", {}),
    ],
)
async def test_invalid_settings_are_refused_and_nothing_changes(
    idle: Harness, message: str, code: str, params: dict[str, object]
) -> None:
    await says(idle, "/settings ar 2:3")
    assert await says(idle, message) == error(code, **params)
    assert await says(idle, "/settings") == current(ar="2:3")


async def test_settings_reset_restores_the_defaults(idle: Harness) -> None:
    await says(idle, "/settings ar 16:9")
    await says(idle, "/settings --style anime --res 2k")
    assert await says(idle, "/settings reset") == en("settings.reset")
    assert await says(idle, "/settings") == current()
    job = await idle.job(await idle.imagine("a fox"))
    assert (job.width, job.height, job.style, job.tier) == (1024, 1024, "none", "1k")


# --- /language -----------------------------------------------------------------------------------


async def test_choosing_chinese_switches_later_replies(harness: Harness) -> None:
    await harness.say("/language zh-CN")
    assert await says(harness, "/start") == zh("start.welcome", balance=40, price=10)
    assert await says(harness, "/help") == zh("help.text", k1=10, k2=20, k4=40)
    assert await says(harness, "/imagine a cat --ar 16-9") == error("bad_ratio", "zh-CN", value="16-9")
    assert (await says(harness, "/balance")).startswith(zh("balance.total", total=40))
    await harness.say("/language en")
    assert await says(harness, "/start") == en("start.welcome", balance=40, price=10)


async def test_choosing_a_language_confirms_it_in_that_language(harness: Harness) -> None:
    assert await says(harness, "/language zh-CN") == translate("zh-CN", "language.set", language="简体中文")
    assert await says(harness, "/language English") == translate("en", "language.set", language="English")


async def test_language_alone_shows_the_options(harness: Harness) -> None:
    text = await says(harness, "/language")
    options = "en (English), zh-CN (简体中文)"
    assert text == translate("en", "language.current", language="English", options=options)
    assert "zh-CN" in text


@pytest.mark.parametrize("locale", ["zh-Hans", "zh_CN", "zh-TW", "zh"])
async def test_a_chinese_platform_locale_gets_chinese_without_choosing(harness: Harness, locale: str) -> None:
    assert await says(harness, "/start", "li", locale=locale) == zh("start.welcome", balance=40, price=10)
    assert await says(harness, "/frobnicate", "li", locale=locale) == error(
        "unknown_command", "zh-CN", command="/frobnicate"
    )


@pytest.mark.parametrize("locale", [None, "en-US", "fr"])
async def test_other_platform_locales_get_english(harness: Harness, locale: str | None) -> None:
    assert await says(harness, "/start", "marie", locale=locale) == en("start.welcome", balance=40, price=10)


async def test_an_unknown_language_is_refused_and_nothing_changes(harness: Harness) -> None:
    assert await says(harness, "/language xx") == error("unknown_language", value="xx", options="en, zh-CN")
    assert await says(harness, "/language fr") == error("unknown_language", value="fr", options="en, zh-CN")
    assert await says(harness, "/start") == en("start.welcome", balance=40, price=10)


# --- /styles and the Chinese aliases -------------------------------------------------------------


async def test_styles_lists_all_default_styles(harness: Harness) -> None:
    lines = (await says(harness, "/styles")).splitlines()
    assert lines[0] == en("styles.title")
    assert lines[-1] == en("styles.hint")
    listed = [line.split()[0] for line in lines[1:-1]]
    assert listed == list(DEFAULT_STYLES)
    assert any("Watercolor" in line for line in lines)
    chinese = await says(harness, "/风格", "li", locale="zh-Hans")
    assert chinese.splitlines()[0] == zh("styles.title")
    assert "水彩" in chinese


async def test_chinese_aliases_do_what_the_english_commands_do(idle: Harness) -> None:
    assert await says(idle, "/余额") == await says(idle, "/balance")
    assert await says(idle, "/帮助") == await says(idle, "/help")
    reply = await answer(idle, "/画 一只猫，坐在月亮上 --ar 16:9")
    assert reply.stage == Stage.QUEUED
    assert reply.job is not None
    job = await idle.job(reply.job)
    assert (job.prompt, job.ratio, job.width, job.height) == ("一只猫，坐在月亮上", "16:9", 1360, 768)
    assert (await idle.balance()).total == 30
    assert await says(idle, "/余额") == await says(idle, "/balance")


async def test_the_platform_locale_is_followed_until_the_user_chooses(harness: Harness) -> None:
    assert (await says(harness, "/styles", locale="zh-Hans")).startswith(translate("zh-CN", "styles.title"))
    assert (await says(harness, "/styles", locale="en-US")).startswith(en("styles.title"))
    await says(harness, "/language zh-CN", locale="en-US")
    assert (await says(harness, "/styles", locale="en-US")).startswith(translate("zh-CN", "styles.title"))


async def test_a_setting_given_twice_is_refused_rather_than_guessed(idle: Harness) -> None:
    assert await says(idle, "/settings ar 16:9 --aspect 1:1") == error("settings_usage")
    assert await says(idle, "/settings") == current()
