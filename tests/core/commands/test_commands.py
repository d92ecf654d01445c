"""Every command through the real core, as a user sees it: the replies, the jobs, the ledger.

Runs on SQLite and PostgreSQL. Messages are compared with the catalog text for the user's language.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from core.i18n import catalog, translate
from core.messages import ActionKind, Reply, ReplyType, Stage
from tests.harness import DatabaseTarget, Harness, harness_for

COMMANDS = ("imagine", "balance", "history", "cancel", "settings", "styles", "language", "action")
DEFAULT_STYLES = ("photo", "anime", "cinema", "illustration", "3d", "watercolor", "pixel", "none")
KNOWN_FLAGS = "--ar --style --res --model --n"
MODELS = "gpt-image-2, gpt-image-1.5, gpt-image-1"


def en(key: str, **params: object) -> str:
    return translate("en", key, **params)


def zh(key: str, **params: object) -> str:
    return translate("zh-CN", key, **params)


def error(key: str, language: str = "en", **params: object) -> str:
    return translate(language, f"error.{key}", **params)


def catalog_text(language: str, key: str, /, **params: object) -> str:
    """The catalog message filled in without translate(), which cannot take a `language` placeholder."""
    return catalog(language)[key].format(**params)


async def answer(harness: Harness, message: str, user: str = "alice", locale: str | None = None) -> Reply:
    """The one reply a command gets."""
    replies = await harness.say(message, user, locale=locale)
    assert len(replies) == 1, [reply.text for reply in replies]
    return replies[0]


async def says(harness: Harness, message: str, user: str = "alice", locale: str | None = None) -> str:
    return (await answer(harness, message, user, locale)).text


@pytest_asyncio.fixture
async def idle(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """The real core with no worker: submitted jobs stay queued."""
    async with harness_for(database, tmp_path, run_workers=False) as running:
        yield running


async def finished_job(harness: Harness, prompt: str, user: str = "alice") -> int:
    job = await harness.imagine(prompt, user)
    final = await harness.chat.wait_final(job)
    assert final.type == ReplyType.ACTIONS, final.text
    return job


# --- /start, /help, and what is not a command ----------------------------------------------------


async def test_start_shows_the_trial_balance(harness: Harness) -> None:
    welcome = await says(harness, "/start")
    assert welcome == en("start.welcome", balance=40, price=10)
    assert "40" in welcome
    assert (await harness.balance()).total == 40


async def test_help_lists_every_command_and_the_prices(harness: Harness) -> None:
    text = await says(harness, "/help")
    assert text == en("help.text", k1=10, k2=20, k4=40)
    for command in COMMANDS:
        assert f"/{command}" in text, command
    for price in ("10", "20", "40"):
        assert price in text


async def test_text_that_is_not_a_command_gets_the_hint(harness: Harness) -> None:
    assert await says(harness, "draw me a cat") == error("not_a_command")
    assert await says(harness, "画一只猫", "li", locale="zh-Hans") == error("not_a_command", "zh-CN")


@pytest.mark.parametrize("message", ["/frobnicate a cat", "/Frobnicate@image2bot", "/frobnicate --ar 1:1"])
async def test_an_unknown_command_is_named_in_the_hint(harness: Harness, message: str) -> None:
    text = await says(harness, message)
    assert text == error("unknown_command", command="/frobnicate")
    assert "/frobnicate" in text


# --- /imagine refusals ---------------------------------------------------------------------------

REFUSALS: list[tuple[str, str, dict[str, object]]] = [
    ("/imagine", "empty_prompt", {}),
    ("/imagine   --ar 16:9", "empty_prompt", {}),
    ("/imagine a cat --ar 16-9", "bad_ratio", {"value": "16-9"}),
    ("/imagine a cat --ar 4:1", "ratio_out_of_range", {"value": "4:1", "min": "1:3", "max": "3:1"}),
    ("/imagine a cat --res 8k", "bad_resolution", {"value": "8k"}),
    (
        "/imagine a cat --style nosuch",
        "unknown_style",
        {"value": "nosuch", "styles": ", ".join(DEFAULT_STYLES)},
    ),
    ("/imagine a cat --model dall-e-9", "unknown_model", {"value": "dall-e-9", "models": MODELS}),
    ("/imagine a cat --n 9", "bad_count", {"value": 9, "limit": 4}),
    ("/imagine a cat --n 0", "bad_count", {"value": 0, "limit": 4}),
    ("/imagine a cat --n two", "bad_count", {"value": "two", "limit": 4}),
    ("/imagine a cat --foo x", "unknown_flag", {"flag": "--foo", "known": KNOWN_FLAGS}),
    ("/imagine a cat --ar", "flag_needs_value", {"flag": "--ar"}),
    ("/imagine a cat --n 1 --n 2", "flag_repeated", {"flag": "--n"}),
    ("/imagine " + "a" * 4001, "prompt_too_long", {"length": 4001, "limit": 4000}),
    ("/imagine a cat --res 4k --n 2", "insufficient_credits", {"balance": 40, "cost": 80}),
]


async def test_imagine_refusals_reserve_nothing(harness: Harness) -> None:
    for message, code, params in REFUSALS:
        reply = await answer(harness, message)
        assert reply.type == ReplyType.TEXT
        assert reply.job is None
        assert reply.text == error(code, **params), (message, code)
        assert (await harness.balance()).total == 40, message
    assert await says(harness, "/history") == en("history.empty")
    await harness.assert_ledger_consistent()


async def test_insufficient_credits_names_the_balance_and_the_cost(harness: Harness) -> None:
    text = await says(harness, "/imagine a cat --res 4k --n 2")
    assert "40" in text
    assert "80" in text
    assert (await harness.balance()).total == 40


async def test_a_prompt_at_the_limit_is_accepted(idle: Harness) -> None:
    job = await idle.imagine("a" * 4000)
    assert len((await idle.job(job)).prompt) == 4000


@pytest.mark.parametrize(
    ("message", "size", "cost"),
    [
        ("/imagine a cat --res 2k --model gpt-image-1", (1024, 1024), 10),
        ("/imagine a cat --res 4k --model gpt-image-1.5", (1024, 1024), 10),
        ("/imagine a cat --res 4k --ar 3:2 --model gpt-image-1", (1536, 1024), 20),
        ("/imagine a cat --res 1k --ar 3:2 --model gpt-image-1", (1536, 1024), 10),
    ],
)
async def test_a_fixed_size_model_is_charged_for_no_more_than_it_draws_or_was_asked(
    idle: Harness, message: str, size: tuple[int, int], cost: int
) -> None:
    reply = await answer(idle, message)
    assert reply.job is not None
    job = await idle.job(reply.job)
    assert ((job.width, job.height), job.cost) == (size, cost)
    assert (await idle.balance()).total == 40 - cost


# --- /balance and /history -----------------------------------------------------------------------


async def test_balance_shows_both_buckets_and_the_recent_changes(harness: Harness) -> None:
    job = await finished_job(harness, "a lighthouse at dusk")
    lines = (await says(harness, "/balance")).splitlines()
    assert lines[0] == en("balance.total", total=30)
    assert en("balance.subscription", amount=0) in lines
    assert en("balance.one_time", amount=30) in lines
    assert en("balance.prices", k1=10, k2=20, k4=40) in lines
    recent = lines[lines.index(en("balance.recent")) + 1 :]
    assert any("+40" in line and en("ledger.trial") in line for line in recent), recent
    image_lines = [line for line in recent if "-10" in line]
    assert len(image_lines) == 1, recent
    assert f"{en('ledger.reserve')} #{job}" in image_lines[0]
    assert lines[-1] == en("credits.how_to_get")


async def test_history_is_empty_and_then_lists_the_finished_job(harness: Harness) -> None:
    assert await says(harness, "/history") == en("history.empty")
    job_id = await finished_job(harness, "a lighthouse at dusk")
    job = await harness.job(job_id)
    lines = (await says(harness, "/history")).splitlines()
    assert lines[0] == en("history.title")
    assert lines[1:] == [
        en(
            "history.line",
            icon="✅",
            job=job_id,
            status=en("status.succeeded"),
            width=1024,
            height=1024,
            style="none",
            prompt="a lighthouse at dusk",
            when=f"{job.created_at:%Y-%m-%d %H:%M}",
        )
    ]
    assert f"#{job_id}" in lines[1]


async def test_history_is_private_to_each_user(idle: Harness) -> None:
    await idle.imagine("a secret garden", "bob")
    assert await says(idle, "/history", "alice") == en("history.empty")


# --- /cancel -------------------------------------------------------------------------------------


async def test_cancel_with_nothing_to_cancel(harness: Harness) -> None:
    assert await says(harness, "/cancel") == error("nothing_to_cancel")


async def test_cancelling_a_queued_job_restores_its_credits(idle: Harness) -> None:
    job = await idle.imagine("a red fox --res 2k")
    assert (await idle.balance()).total == 20
    reply = await answer(idle, f"/cancel {job}")
    assert reply.text == en("cancel.done", job=job, credits=20, balance=40)
    assert reply.final
    assert reply.job == job
    assert (await idle.balance()).total == 40
    assert (await idle.job(job)).status == "cancelled"
    assert en("status.cancelled") in await says(idle, "/history")
    await idle.assert_ledger_consistent()


async def test_cancel_without_a_number_cancels_the_latest_active_job(idle: Harness) -> None:
    first = await idle.imagine("first")
    second = await idle.imagine("second")
    reply = await answer(idle, "/cancel")
    assert reply.job == second
    assert reply.text == en("cancel.done", job=second, credits=10, balance=30)
    reply = await answer(idle, f"/cancel #{first}")
    assert reply.text == en("cancel.done", job=first, credits=10, balance=40)
    assert await says(idle, "/cancel") == error("nothing_to_cancel")
    await idle.assert_ledger_consistent()


async def test_cancel_refuses_unknown_and_malformed_job_numbers(idle: Harness) -> None:
    assert await says(idle, "/cancel 999") == error("job_not_found", job=999)
    assert await says(idle, "/cancel abc") == error("bad_job_id", value="abc")
    assert await says(idle, "/cancel 1234567890123") == error("bad_job_id", value="1234567890123")


async def test_cancelling_someone_elses_job_reveals_nothing_and_changes_nothing(idle: Harness) -> None:
    job = await idle.imagine("bob's cat", "bob")
    mine = await idle.imagine("alice's cat", "alice")
    assert await says(idle, f"/cancel {job}", "alice") == error("job_not_found", job=job)
    assert (await idle.job(job)).status == "queued"
    assert (await idle.job(mine)).status == "queued"
    assert (await idle.balance("bob")).total == 30
    assert (await idle.balance("alice")).total == 30
    await idle.assert_ledger_consistent()


async def test_a_finished_job_cannot_be_cancelled(harness: Harness) -> None:
    job = await finished_job(harness, "a lighthouse")
    assert await says(harness, f"/cancel {job}") == error("job_not_cancellable", job=job)
    assert (await harness.balance()).total == 30
    await harness.assert_ledger_consistent()


# --- /settings -----------------------------------------------------------------------------------


def current(ar: str = "1:1", style: str = "none", res: str = "1k", model: str = "gpt-image-2") -> str:
    return en("settings.current", ar=ar, style=style, res=res, model=model)


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
    assert await says(harness, "/language zh-CN") == catalog_text(
        "zh-CN", "language.set", language="简体中文"
    )
    assert await says(harness, "/language English") == catalog_text("en", "language.set", language="English")


async def test_language_alone_shows_the_options(harness: Harness) -> None:
    text = await says(harness, "/language")
    options = "en (English), zh-CN (简体中文)"
    assert text == catalog_text("en", "language.current", language="English", options=options)
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


# --- /action -------------------------------------------------------------------------------------


async def test_action_usage_errors(idle: Harness) -> None:
    job = await idle.imagine("a cat")
    for message in ("/action x y", "/action 1", "/action", f"/action {job} reroll x", f"/action {job} zoom"):
        assert await says(idle, message) == error("action_usage"), message
    assert await says(idle, "/action abc reroll") == error("bad_job_id", value="abc")
    assert await says(idle, "/action 999 reroll") == error("job_not_found", job=999)
    assert await says(idle, f"/action {job} upscale-2k") == error("job_not_finished", job=job)
    assert (await idle.balance()).total == 30


async def test_actions_on_someone_elses_image_are_refused(idle: Harness) -> None:
    job = await idle.imagine("bob's cat", "bob")
    assert await says(idle, f"/action {job} reroll", "alice") == error("not_your_image")
    assert [reply.text for reply in await idle.press(job, ActionKind.VARY, "alice")] == [
        error("not_your_image")
    ]
    assert (await idle.balance("alice")).total == 40
    assert (await idle.balance("bob")).total == 30
    assert await says(idle, "/history", "alice") == en("history.empty")
    assert (await idle.job(job)).status == "queued"


async def test_upscale_2k_queues_a_2k_job_from_the_finished_image(harness: Harness) -> None:
    job = await finished_job(harness, "a red fox in snow")
    parent = await harness.job(job)
    reply = await answer(harness, f"/action {job} upscale-2k")
    assert reply.stage == Stage.QUEUED
    assert reply.job is not None
    child = await harness.job(reply.job)
    assert (child.tier, child.cost, child.width, child.height) == ("2k", 20, 2048, 2048)
    assert child.parent_id == job
    assert child.references == parent.outputs
    assert child.prompt == parent.prompt
    assert reply.text == en("job.queued", job=child.id, position=1, cost=20, balance=10)

    final = await harness.chat.wait_final(child.id)
    assert final.type == ReplyType.ACTIONS
    assert (await harness.balance()).total == 10
    assert await says(harness, f"/action {child.id} upscale-2k") == error(
        "already_at_resolution", job=child.id, res="2K"
    )
    assert await says(harness, f"/action {job} vary 2") == error("bad_image_index", job=job, count=1)
    assert (await harness.balance()).total == 10
    await harness.assert_ledger_consistent()


async def test_reroll_repeats_the_prompt_and_the_settings(idle: Harness) -> None:
    job = await idle.imagine("a castle at night --ar 2:3 --style watercolor --n 2 --model gpt-image-2")
    reply = await answer(idle, f"/action {job} reroll")
    assert reply.stage == Stage.QUEUED
    assert reply.job is not None
    assert reply.job != job
    parent, child = await idle.job(job), await idle.job(reply.job)
    same = ("prompt", "ratio", "style", "tier", "model", "n", "width", "height", "cost", "references")
    assert {name: getattr(child, name) for name in same} == {name: getattr(parent, name) for name in same}
    assert child.prompt == "a castle at night"
    assert child.parent_id == job
    assert (await idle.balance()).total == 0
    await idle.assert_ledger_consistent()


async def test_upscale_is_refused_when_the_model_cannot_draw_larger(harness: Harness) -> None:
    job = await finished_job(harness, "a lighthouse --model gpt-image-1")
    reply = await answer(harness, f"/action {job} upscale-2k")
    assert reply.text == en("error.upscale_unavailable", model="gpt-image-1", width=1024, height=1024)
    assert reply.job is None
    assert (await harness.balance()).total == 30


async def test_the_platform_locale_is_followed_until_the_user_chooses(harness: Harness) -> None:
    assert (await says(harness, "/styles", locale="zh-Hans")).startswith(translate("zh-CN", "styles.title"))
    assert (await says(harness, "/styles", locale="en-US")).startswith(en("styles.title"))
    await says(harness, "/language zh-CN", locale="en-US")
    assert (await says(harness, "/styles", locale="en-US")).startswith(translate("zh-CN", "styles.title"))
