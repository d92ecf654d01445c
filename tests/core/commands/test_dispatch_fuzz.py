"""Fuzzing the real `Core.dispatch`: whatever a user types, they get an answer and never a traceback.

One event loop (an `asyncio.Runner`) and one harness on SQLite live for the whole module; the
synchronous hypothesis tests drive them, so each example costs one dispatch rather than a new app.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.i18n import LANGUAGES, translate
from core.messages import ChatRef, Incoming, Reply, ReplyType, UserRef
from tests.harness import Harness, harness_on_own_loop

USERS = ("alice", "bob", "carol")
LOCALES = (None, "en", "en-US", "zh-Hans", "zh_CN", "fr")
COMMANDS = (
    "imagine",
    "balance",
    "history",
    "cancel",
    "settings",
    "styles",
    "language",
    "help",
    "start",
    "action",
    "画",
    "余额",
)
FLAGS = ("--ar", "--res", "--style", "--n", "--model", "—ar", "--ref", "--foo", "--seed", "--N")
VALUES = (
    "16:9",
    "1:1",
    "4:1",
    "16-9",
    "0:0",
    "1k",
    "2k",
    "4k",
    "8k",
    "anime",
    "photo",
    "nosuch",
    "gpt-image-1",
    "gpt-image-2",
    "1",
    "4",
    "9",
    "0",
    "-1",
    "two",
    "reroll",
    "upscale-2k",
    "upscale-4k",
    "vary",
    "reset",
    "zh-CN",
    "en",
    "xx",
    "#1",
    '"water color"',
    "'it''s'",
    "{prompt}",
    "{job}",
    "%s",
)

EXCEPTION_NAMES = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
) | {"UserError", "InsufficientCredits", "UnknownAccount", "IntegrityError", "OperationalError", "sqlalchemy"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Bot:
    runner: asyncio.Runner
    harness: Harness

    def say(self, message: str, user: str, locale: str | None) -> list[Reply]:
        incoming = Incoming(UserRef("test", user, user, locale), ChatRef("test", "private", user), message)
        return self.runner.run(self.harness.app.core.dispatch(incoming))


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    # Plenty of credits and queue room, so /imagine keeps reaching the queue and not only refusals.
    with harness_on_own_loop(
        tmp_path_factory.mktemp("dispatch-fuzz"),
        credits={"trial": 1_000_000},
        generation={"max_queued_jobs_per_user": 1_000_000},
    ) as (runner, harness):
        yield Bot(runner, harness)


def _internal_error_prefix(language: str) -> str:
    return translate(language, "error.internal", ref="\0").split("\0")[0]


INTERNAL_PREFIXES = tuple(_internal_error_prefix(language) for language in LANGUAGES)


def check_replies(message: str, replies: list[Reply]) -> None:
    assert replies, f"no reply to {message!r}"
    echoed = set(_WORD.findall(message))
    for reply in replies:
        assert reply.type in (ReplyType.TEXT, ReplyType.PROGRESS), reply
        assert reply.text.strip(), f"an empty reply to {message!r}"
        assert "Traceback" not in reply.text
        leaked = (set(_WORD.findall(reply.text)) & EXCEPTION_NAMES) - echoed
        assert not leaked, f"{message!r} -> {reply.text!r}"
        assert not reply.text.startswith(INTERNAL_PREFIXES), f"{message!r} -> {reply.text!r}"


words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=10).filter(
    lambda word: not any(c.isspace() for c in word)
)
values = st.one_of(st.sampled_from(VALUES), words, st.integers(-5, 10**6).map(str))
flag = st.one_of(
    st.tuples(st.sampled_from(FLAGS), values).map(" ".join),
    st.tuples(st.sampled_from(FLAGS), values).map("=".join),
    st.sampled_from(FLAGS),  # no value
)
command_text = st.builds(
    lambda name, bot_suffix, parts: f"/{name}{bot_suffix} " + " ".join(parts),
    st.sampled_from(COMMANDS).map(lambda name: name.upper() if name == "help" else name),
    st.sampled_from(["", "", "", "@image2bot"]),
    st.lists(st.one_of(values, words, flag), max_size=6),
)
who = st.tuples(st.sampled_from(USERS), st.sampled_from(LOCALES))

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(message=st.text(max_size=200), sender=who)
def test_arbitrary_text_gets_an_answer(bot: Bot, message: str, sender: tuple[str, str | None]) -> None:
    check_replies(message, bot.say(message, *sender))


@FUZZ
@given(message=command_text, sender=who)
def test_commands_with_random_words_and_flags_get_an_answer(
    bot: Bot, message: str, sender: tuple[str, str | None]
) -> None:
    check_replies(message, bot.say(message, *sender))


# Inputs that once broke int() behind str.isdigit() ("²") or its 4300-digit limit: internal errors.
ODD_NUMBERS: list[tuple[str, str, dict[str, object]]] = [
    ("/imagine a cat --n ²", "bad_count", {"value": "²", "limit": 4}),
    ("/imagine a cat --n " + "1" * 5000, "bad_count", {"value": "1" * 5000, "limit": 4}),
    ("/imagine a cat --ar " + "1" * 5000 + ":1", "bad_ratio", {"value": "1" * 5000 + ":1"}),
    ("/cancel ²", "bad_job_id", {"value": "²"}),
    ("/cancel " + "9" * 5000, "bad_job_id", {"value": "9" * 5000}),
    ("/action ² reroll", "bad_job_id", {"value": "²"}),
    ("/action 1 reroll ²", "action_usage", {}),
]


@pytest.mark.parametrize(("message", "code", "params"), ODD_NUMBERS, ids=[m[:24] for m, _, _ in ODD_NUMBERS])
def test_odd_numbers_get_a_hint_not_an_internal_error(
    bot: Bot, message: str, code: str, params: dict[str, object]
) -> None:
    assert [reply.text for reply in bot.say(message, "dora", None)] == [
        translate("en", f"error.{code}", **params)
    ]


@pytest.mark.parametrize(
    "message", ["/imagine a cat --n ٢", "/cancel ٣٣٣", "/action ١ vary", "/action 1 vary ٢"]
)
def test_other_scripts_digits_get_an_answer(bot: Bot, message: str) -> None:
    check_replies(message, bot.say(message, "erin", None))
