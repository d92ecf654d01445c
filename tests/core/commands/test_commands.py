"""`/start`, `/help`, `/imagine` and the actions under a result, as a user sees them.

Runs on SQLite and PostgreSQL through the real core. Messages are compared with the catalog text.
"""

from __future__ import annotations

import pytest

from core.messages import ActionKind, ReplyType, Stage
from tests.core.commands.chat import (
    COMMANDS,
    DEFAULT_STYLES,
    KNOWN_FLAGS,
    MODELS,
    answer,
    en,
    error,
    finished_job,
    says,
)
from tests.harness import Harness

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
        assert reply.text.startswith(error(code, **params)), (message, code)
        assert reply.text == error(code, **params) or code == "insufficient_credits", (message, code)
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
    # answered as if the job did not exist: which job numbers exist stays unknown
    assert await says(idle, f"/action {job} reroll", "alice") == error("job_not_found", job=job)
    assert [reply.text for reply in await idle.press(job, ActionKind.VARY, "alice")] == [
        error("job_not_found", job=job)
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
