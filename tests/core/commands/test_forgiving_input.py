"""Forgiving input: dashes however typed, "did you mean" for mistyped flags, commands and styles, and
style and action words in every language. A mistyped flag is refused before anything is reserved.

Runs on SQLite and PostgreSQL through the real core, in English and Simplified Chinese.
"""

from __future__ import annotations

import pytest

from core.commands.imagine import OPTION_ALIASES
from core.commands.parser import Command, parse
from core.commands.suggest import closest, distance
from core.errors import UserError
from core.i18n import translate
from core.messages import Stage
from tests.core.commands.chat import DEFAULT_STYLES, KNOWN_FLAGS, answer, en, error, finished_job, says
from tests.harness import Harness

ZH = "zh-Hans"  # a Chinese client's locale


def imagine_flags(name: str) -> dict[str, str] | None:
    return OPTION_ALIASES if name in ("imagine", "画") else None


def parsed(message: str) -> Command:
    command = parse(message, flags_of=imagine_flags)
    assert command is not None
    return command


def refused(message: str) -> UserError:
    with pytest.raises(UserError) as caught:
        parse(message, flags_of=imagine_flags)
    return caught.value


# --- the parser ----------------------------------------------------------------------------------

DASHES = [
    "--",
    "-",
    "–",
    "—",
    "——",
    "－－",
]  # two hyphens, one, en dash, em dash, a Chinese IME's, full width


@pytest.mark.parametrize("dash", DASHES)
@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("ar", "16:9"),
        ("style", "anime"),
        ("res", "2k"),
        ("model", "gpt-image-1"),
        ("n", "2"),
        ("aspect", "2:3"),
    ],
)
def test_every_dash_before_a_flag_means_two_hyphens(dash: str, flag: str, value: str) -> None:
    assert parsed(f"/imagine a cat {dash}{flag} {value}") == Command("imagine", "a cat", {flag: value})
    assert parsed(f"/imagine a cat {dash}{flag}={value} at dusk") == Command(
        "imagine", "a cat at dusk", {flag: value}
    )


@pytest.mark.parametrize(
    "prompt",
    [
        "a 3-legged stool",
        "sunset – golden hour — over the sea",
        "一只猫——很可爱",
        "一只猫 —— 很可爱",
        "it is -5 degrees - brr",
        "a well-known e-mail x-ray",
    ],
)
def test_dashes_in_prose_stay_prompt_text(prompt: str) -> None:
    assert parsed(f"/imagine {prompt}") == Command("imagine", prompt, {})


@pytest.mark.parametrize(
    ("message", "flag", "meant"),
    [
        ("/imagine a cat --ra 16:9", "--ra", "--ar"),
        ("/imagine a cat -ra 16:9", "--ra", "--ar"),
        ("/imagine a cat --stlye anime", "--stlye", "--style"),
        ("/imagine a cat —resolutoin 2k", "--resolutoin", "--resolution"),
        ("/画 一只猫 ——ra 16:9", "--ra", "--ar"),
        ("/imagine a cat --ra", "--ra", "--ar"),  # refused as mistyped, not as lacking a value
    ],
)
def test_a_mistyped_flag_is_refused_with_the_flag_it_meant(message: str, flag: str, meant: str) -> None:
    error = refused(message)
    assert (error.code, error.params) == (
        "unknown_flag_suggest",
        {"flag": flag, "suggestion": meant, "known": KNOWN_FLAGS},
    )


@pytest.mark.parametrize(
    "message", ["/imagine a cat -x 1", "/imagine a cat --zzzzz 1", "/imagine a -fluffy cat"]
)
def test_an_unknown_flag_far_from_all_is_refused_with_the_list(message: str) -> None:
    assert refused(message).code == "unknown_flag"
    assert refused(message).params["known"] == KNOWN_FLAGS


def test_a_command_without_flags_of_its_own_keeps_ignoring_them() -> None:
    assert parsed("/balance -x 1") == Command("balance", "", {"x": "1"})


@pytest.mark.parametrize(
    ("a", "b", "edits"),
    [
        ("ar", "ra", 1),
        ("stlye", "style", 1),
        ("imagin", "imagine", 1),
        ("blance", "balance", 1),
        ("", "ab", 2),
    ],
)
def test_distance_counts_a_swap_as_one_edit(a: str, b: str, edits: int) -> None:
    assert distance(a, b) == distance(b, a) == edits


def test_closest_tolerates_fewer_edits_in_shorter_words() -> None:
    assert closest("x", ["n", "ar"]) is None  # one letter: every other letter would be "near"
    assert closest("ra", ["ar", "n"]) == "ar"
    assert closest("IMAGIN", ["imagine", "balance"]) == "imagine"
    assert closest("imagne", ["imagine"]) == "imagine"
    assert closest("bal", ["imagine"]) is None
    assert closest("余额额", ["余额", "画"]) == "余额"
    assert closest("imagine" * 600, ["imagine", "balance"]) is None  # a pasted wall of text


# --- /imagine through the core -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "locale", "prompt"),
    [
        ("/imagine a cat -ar 16:9", None, "a cat"),
        ("/imagine a cat –ar 16:9", None, "a cat"),
        ("/画 一只猫 ——ar 16:9", ZH, "一只猫"),
        ("/画 一只猫 —ar 16:9", ZH, "一只猫"),
    ],
)
async def test_one_dash_is_drawn_as_asked_and_never_charged_as_prompt(
    idle: Harness, message: str, locale: str | None, prompt: str
) -> None:
    reference = await idle.job(await idle.imagine("a dog --ar 16:9", "bob"))
    reply = await answer(idle, message, locale=locale)
    assert reply.stage == Stage.QUEUED
    assert reply.job is not None
    job = await idle.job(reply.job)
    assert (job.prompt, job.ratio, job.width, job.height) == (
        prompt,
        "16:9",
        reference.width,
        reference.height,
    )
    assert job.width > job.height
    assert job.cost == 10
    assert (await idle.balance()).total == 30  # charged once, for one 1K image
    await idle.assert_ledger_consistent()


@pytest.mark.parametrize(
    ("message", "locale", "language"),
    [("/imagine a cat --ra 16:9", None, "en"), ("/画 一只猫 -ra 16:9", ZH, "zh-CN")],
)
async def test_a_mistyped_flag_is_refused_with_did_you_mean_and_reserves_nothing(
    idle: Harness, message: str, locale: str | None, language: str
) -> None:
    await says(idle, "/start", locale=locale)
    reply = await answer(idle, message, locale=locale)
    assert reply.job is None
    assert reply.text == error(
        "unknown_flag_suggest", language, flag="--ra", suggestion="--ar", known=KNOWN_FLAGS
    )
    assert "--ar" in reply.text
    assert (await idle.balance()).total == 40
    assert await says(idle, "/history", locale=locale) == translate(language, "history.empty")
    await idle.assert_ledger_consistent()


@pytest.mark.parametrize(
    ("message", "locale", "language", "style"),
    [
        ("/imagine a cat --style 动漫", None, "en", "anime"),
        ("/画 一只猫 ——style 动漫", ZH, "zh-CN", "anime"),
        ("/imagine a cat --style ANIME", None, "en", "anime"),
        ("/imagine a cat --style 'Pixel Art'", None, "en", "pixel"),
        ("/画 一只猫 --style 水彩", ZH, "zh-CN", "watercolor"),
    ],
)
async def test_a_style_is_taken_by_its_name_or_label_in_any_language(
    idle: Harness, message: str, locale: str | None, language: str, style: str
) -> None:
    reply = await answer(idle, message, locale=locale)
    assert reply.job is not None, reply.text
    assert (await idle.job(reply.job)).style == style


@pytest.mark.parametrize(
    ("message", "locale", "language", "value", "meant"),
    [
        ("/imagine a cat --style anmie", None, "en", "anmie", "anime"),
        ("/画 一只猫 --style 动画", ZH, "zh-CN", "动画", "动漫"),
    ],
)
async def test_a_mistyped_style_gets_did_you_mean(
    idle: Harness, message: str, locale: str | None, language: str, value: str, meant: str
) -> None:
    assert await says(idle, message, locale=locale) == error(
        "unknown_style_suggest", language, value=value, suggestion=meant, styles=", ".join(DEFAULT_STYLES)
    )
    assert (await idle.balance()).total == 40


async def test_settings_take_a_style_label_and_a_one_dash_flag(idle: Harness) -> None:
    assert (await says(idle, "/settings --style 动漫 -ar 16:9")).startswith(en("settings.saved"))
    job = await idle.job(await idle.imagine("a cat"))
    assert (job.style, job.ratio) == ("anime", "16:9")
    assert await says(idle, "/settings stlye anime") == error(
        "unknown_setting_suggest", name="stlye", suggestion="style"
    )
    assert await says(idle, "/settings --ra 1:1") == error(
        "unknown_flag_suggest", flag="--ra", suggestion="--ar", known="--ar --style --res --model --tz"
    )


# --- unknown commands ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "locale", "language", "command", "meant"),
    [
        ("/imagin a cat", None, "en", "/imagin", "/imagine"),
        ("/blance", None, "en", "/blance", "/balance"),
        ("/imagin 一只猫", ZH, "zh-CN", "/imagin", "/imagine"),
        ("/余额额", ZH, "zh-CN", "/余额额", "/余额"),
    ],
)
async def test_a_mistyped_command_gets_did_you_mean(
    idle: Harness, message: str, locale: str | None, language: str, command: str, meant: str
) -> None:
    await says(idle, "/start", locale=locale)
    reply = await answer(idle, message, locale=locale)
    assert reply.text == error("unknown_command_suggest", language, command=command, suggestion=meant)
    assert (await idle.balance()).total == 40


async def test_admin_commands_are_never_suggested_to_others(idle: Harness) -> None:
    assert await says(idle, "/grnt bob 5 x") == error("unknown_command", command="/grnt")


# --- /action words -------------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "locale"), [("重绘", ZH), ("Reroll", None), ("🔁重绘", ZH)])
async def test_action_takes_its_button_word_in_any_language(
    idle: Harness, word: str, locale: str | None
) -> None:
    job = await idle.imagine("a castle --ar 2:3")
    reply = await answer(idle, f"/action {job} {word}", locale=locale)
    assert reply.stage == Stage.QUEUED, reply.text
    assert reply.job is not None
    child = await idle.job(reply.job)
    assert (child.parent_id, child.prompt, child.ratio) == (job, "a castle", "2:3")
    assert (await idle.balance()).total == 20


async def test_upscale_and_vary_by_their_chinese_labels(harness: Harness) -> None:
    job = await finished_job(harness, "a red fox in snow")
    assert await says(harness, f"/action {job} 放大", locale=ZH) == error("action_usage", "zh-CN")
    for message, tier, action in (
        (f"/action {job} 放大 2K 1", "2k", "upscale-2k"),
        (f"/action {job} 变体", "1k", "vary"),
    ):
        reply = await answer(harness, message, locale=ZH)
        assert reply.job is not None, reply.text
        child = await harness.job(reply.job)
        assert (child.tier, child.parent_id, child.action) == (tier, job, action)
    assert (await harness.balance()).total == 0  # 10 for the image, 20 for its upscale, 10 for its variation
