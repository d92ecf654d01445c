"""`core.commands.parser.parse`: command names, `--flag value` options and prompts kept as written."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.commands.parser import Command, parse, whole_number
from core.errors import UserError


def parsed(message: str) -> Command:
    command = parse(message)
    assert command is not None, f"{message!r} was not recognised as a command"
    return command


def refused(message: str) -> UserError:
    with pytest.raises(UserError) as caught:
        parse(message)
    return caught.value


# --- the command name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ("/imagine a cat", "imagine"),
        ("/IMAGINE a cat", "imagine"),
        ("/Balance", "balance"),
        ("   /help", "help"),
        ("/imagine\na cat", "imagine"),
    ],
)
def test_the_name_is_lower_cased_without_the_slash(message: str, name: str) -> None:
    assert parsed(message).name == name


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ("/imagine@Image2Bot a cat", "a cat"),
        ("/help@image2_bot", ""),
        ("/Cancel@SomeBot 12", "12"),
    ],
)
def test_a_botname_suffix_is_dropped(message: str, text: str) -> None:
    command = parsed(message)
    assert "@" not in command.name
    assert command.name == message.split("@")[0].removeprefix("/").lower()
    assert command.text == text


@pytest.mark.parametrize(
    "message",
    ["hello", "", "   ", "a cat /imagine", "/ imagine a cat", "//imagine", "/@bot", "imagine --ar 16:9"],
)
def test_messages_that_do_not_start_with_a_command_are_not_commands(message: str) -> None:
    assert parse(message) is None


def test_a_command_without_arguments_has_no_text_and_no_flags() -> None:
    assert parsed("/balance") == Command("balance", "", {})


# --- flags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "/imagine a red fox --ar 16:9",
        "/imagine a red fox --ar=16:9",
        "/imagine a red fox —ar 16:9",  # em dash, as phones autocorrect `--`
        "/imagine a red fox –ar 16:9",  # en dash
        "/imagine a red fox —ar=16:9",
        "/imagine a red fox --AR 16:9",
        "/imagine --ar 16:9 a red fox",
        "/imagine a red --ar 16:9 fox",
    ],
)
def test_ratio_flag_spellings(message: str) -> None:
    command = parsed(message)
    assert command.flags == {"ar": "16:9"}
    assert command.text == "a red fox"


def test_several_flags_are_cut_out_and_the_prompt_is_what_remains() -> None:
    command = parsed("/imagine a lighthouse --ar 2:3 at dusk --style cinema --res 2k --n 2")
    assert command.flags == {"ar": "2:3", "style": "cinema", "res": "2k", "n": "2"}
    assert command.text == "a lighthouse at dusk"
    assert command.words == ["a", "lighthouse", "at", "dusk"]


@pytest.mark.parametrize(
    ("message", "flags"),
    [
        ('/imagine cat --style "water color"', {"style": "water color"}),
        ("/imagine cat --style 'water color'", {"style": "water color"}),
        ('/imagine cat --style="water color"', {"style": "water color"}),
        ("/imagine cat --style='water color'", {"style": "water color"}),
        ("/imagine cat --model \"gpt-image-1\" --ar '2:3'", {"model": "gpt-image-1", "ar": "2:3"}),
        ('/imagine cat --style "it\'s"', {"style": "it's"}),
    ],
)
def test_quoted_values_lose_their_quotes_and_keep_their_spaces(message: str, flags: dict[str, str]) -> None:
    command = parsed(message)
    assert command.flags == flags
    assert command.text == "cat"


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat's \"big\" hat, (really!) — isn't it?",
        "l'été à Paris: 50% off; [draft] {v2} <b>",
        "he said \"hello\" and she said 'bye'",
        "before -- after - end",
        "a cat — a dog – a bird",
        "wide  spaces\tand\nnew lines",
        "emoji 🦊🌨️ and  “curly” ‘quotes’",
        "a-b--c x--y",
    ],
)
def test_prompts_keep_their_exact_wording(prompt: str) -> None:
    command = parsed(f"/imagine {prompt}")
    assert command.text == prompt
    assert command.flags == {}


def test_prompt_text_around_a_flag_keeps_its_punctuation() -> None:
    command = parsed("/imagine don't stop, \"believing\" --ar 16:9 it's 5 o'clock!")
    assert command.flags == {"ar": "16:9"}
    assert command.text == "don't stop, \"believing\" it's 5 o'clock!"


def test_a_value_may_start_with_a_single_dash() -> None:
    assert parsed("/imagine cat --n -1").flags == {"n": "-1"}


@pytest.mark.parametrize(
    ("message", "flag"),
    [
        ("/imagine a cat --ar", "--ar"),
        ("/imagine a cat --ar ", "--ar"),
        ("/imagine a cat --ar=", "--ar"),
        ("/imagine a cat --ar --res 2k", "--ar"),
        ("/imagine a cat —style —ar 1:1", "--style"),
        ("/imagine a cat --RES", "--res"),
    ],
)
def test_a_flag_without_a_value_is_refused(message: str, flag: str) -> None:
    error = refused(message)
    assert error.code == "flag_needs_value"
    assert error.params == {"flag": flag}


@pytest.mark.parametrize(
    "message", ['/imagine a cat --ar ""', "/imagine a cat --style ''", "/imagine a cat --style=' '"]
)
def test_a_quoted_empty_value_is_refused(message: str) -> None:
    assert refused(message).code == "flag_needs_value"


@pytest.mark.parametrize(
    ("message", "flag"),
    [
        ("/imagine a cat --ar 1:1 --ar 16:9", "--ar"),
        ("/imagine a cat --ar 1:1 —AR 16:9", "--ar"),
        ("/imagine a cat --n=1 --n 1", "--n"),
    ],
)
def test_a_repeated_flag_is_refused(message: str, flag: str) -> None:
    error = refused(message)
    assert error.code == "flag_repeated"
    assert error.params == {"flag": flag}


# --- whole numbers (job ids, --n, image index) -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("0", 0),
        ("007", 7),
        ("123456789", 123456789),
        ("1234567890", None),  # more than 9 digits
        ("#12", None),
        ("-1", None),
        ("+1", None),
        ("1.5", None),
        (" 1", None),
        ("", None),
        ("two", None),
        ("²", None),  # a digit to str.isdigit(), not to int()
        ("١٢", None),  # Arabic-Indic digits: not ASCII
        ("1" * 5000, None),  # longer than int()'s 4300-digit limit
    ],
)
def test_whole_number(text: str, value: int | None) -> None:
    assert whole_number(text) == value


def test_whole_number_digit_limit() -> None:
    assert whole_number("123", digits=3) == 123
    assert whole_number("1234", digits=3) is None


@given(st.text())
def test_whole_number_never_raises(text: str) -> None:
    value = whole_number(text)
    assert value is None or (value >= 0 and str(value) == text.lstrip("0").rjust(1, "0"))


# --- Chinese -------------------------------------------------------------------------------------


def test_cjk_command_with_a_flag() -> None:
    assert parsed("/画 一只猫 --ar 16:9") == Command("画", "一只猫", {"ar": "16:9"})


def test_cjk_prompt_keeps_its_punctuation() -> None:
    command = parsed("/画 一只猫，坐在月亮上。「晚安」 --style anime")
    assert command.name == "画"
    assert command.text == "一只猫，坐在月亮上。「晚安」"
    assert command.flags == {"style": "anime"}


def test_cjk_command_with_a_botname() -> None:
    assert parsed("/余额@image2bot") == Command("余额", "", {})


# --- properties ----------------------------------------------------------------------------------

FLAG_ERRORS = {"flag_needs_value", "flag_repeated"}

commandish = st.builds(
    lambda name, parts: f"/{name} " + " ".join(parts),
    st.sampled_from(["imagine", "画", "settings", "IMAGINE@bot", "x"]),
    st.lists(
        st.one_of(
            st.text(max_size=12),
            st.sampled_from(
                ["--ar", "—ar", "–res", "--n=", "--style", "-", "--", "'", '"', "16:9", "=", "@"]
            ),
        ),
        max_size=10,
    ),
)


def outcome(message: str) -> Command | UserError | None:
    """What parse gives back, or the UserError it raises; anything else propagates and fails the test."""
    try:
        return parse(message)
    except UserError as error:
        return error


@given(st.one_of(st.text(), commandish))
def test_parse_returns_a_command_or_raises_a_user_error(message: str) -> None:
    command = outcome(message)
    if isinstance(command, UserError):
        assert command.code in FLAG_ERRORS
        assert str(command.params["flag"]).startswith("--")
        return
    if command is None:
        # Only text that does not begin with "/" and a name character is left alone. Control
        # characters other than tab and line breaks count as spaces.
        stripped = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]", " ", message).lstrip()
        assert not (stripped[:1] == "/" and stripped[1:2] and not re.match(r"[\s@/]", stripped[1]))
        return
    assert isinstance(command, Command)
    assert command.name
    assert not any(c.isspace() or c in "@/" for c in command.name)
    assert command.text == command.text.strip()
    assert all(isinstance(value, str) for value in command.flags.values())
    assert all(not name.startswith("-") for name in command.flags)
