"""Properties of the pieces every door's text goes through, over generated input with the characters
that break things: controls, zero-width and direction marks, lone surrogates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.commands.parser import parse
from core.errors import UserError
from core.messages import ActionKind, Button
from platforms.telegram.callbacks import CallbackSigner
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import sqlite_target
from tests.platforms.telegram.conftest import ALICE, TOKEN, TelegramBot, api, open_telegram_bot  # noqa: F401
from tests.robustness.conftest import ledger
from tests.robustness.inputs import CONTROL, DIRECTION, ZERO_WIDTH, en

INVISIBLE = CONTROL + ZERO_WIDTH + DIRECTION + " \u3164"
anything = st.text(st.characters(exclude_categories=()), max_size=80)  # lone surrogates included
nasty = st.text(st.sampled_from([*INVISIBLE, "\ud800", "\udfff", "a", "-", "=", ":", '"', "'"]), max_size=40)
words = st.lists(st.one_of(nasty, st.sampled_from(["--ar", "—n", "--style", "16:9", "a cat"])), max_size=6)
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(data=st.one_of(anything, st.builds(lambda a, b: f"{a}|{b}", anything, anything)))
def test_button_data_from_anyone_is_read_or_refused_never_raises(data: str) -> None:
    assert CallbackSigner(TOKEN).read(data) is None


@FAST
@given(job=st.integers(1, 10**9), kind=st.sampled_from(ActionKind), tail=anything.filter(bool))
def test_button_data_changed_in_any_way_is_refused(job: int, kind: ActionKind, tail: str) -> None:
    signer = CallbackSigner(TOKEN)
    data = signer.for_button(job, Button(kind, ""))
    assert signer.read(data) is not None
    assert signer.read(data + tail) is None
    assert signer.read(tail + data) is None


@FAST
@given(parts=words)
def test_what_the_parser_hands_on_can_be_stored_anywhere(parts: list[str]) -> None:
    """PostgreSQL stores neither NUL nor lone surrogates; no other control character is ever meant."""
    try:
        command = parse("/imagine " + " ".join(parts))
    except UserError:
        return  # a repeated or empty flag: explained to the user
    assert command is not None
    for value in (command.text, *command.flags, *command.flags.values()):
        value.encode("utf-8")
        assert not any(char in CONTROL and char != "\t" for char in value), repr(value)


@pytest_asyncio.fixture
async def telegram_bot(tmp_path: Path, api: TelegramBotAPIDouble) -> AsyncIterator[TelegramBot]:  # noqa: F811
    database = sqlite_target(tmp_path)
    async with open_telegram_bot(database, tmp_path, api, run_workers=False) as bot:
        await bot.say("/balance")
        yield bot


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.text(st.sampled_from(INVISIBLE + "\ud800"), min_size=1, max_size=30))
async def test_a_prompt_that_shows_nothing_is_refused_through_telegram(
    telegram_bot: TelegramBot, prompt: str
) -> None:
    before = await ledger(telegram_bot.harness.app)
    sent = len(telegram_bot.api.of("sendMessage", ALICE))
    await telegram_bot.say(f"/imagine {prompt}")
    answers = [call.fields["text"] for call in telegram_bot.api.of("sendMessage", ALICE)[sent:]]
    assert answers == [en("empty_prompt")]
    assert await ledger(telegram_bot.harness.app) == before
