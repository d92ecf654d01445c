"""Bad `/imagine` input every door must refuse with the same clear message, charging nothing."""

from __future__ import annotations

from core.i18n import translate
from core.policy import GenerationSettings
from tests.core.commands.chat import KNOWN_FLAGS

LIMITS = GenerationSettings()
CONTROL = "".join(chr(code) for code in (*range(0x00, 0x20), 0x7F) if chr(code) not in "\n\r")
ZERO_WIDTH = "\u200b\u200c\u200d\ufeff"
DIRECTION = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LONE_SURROGATES = "\ud800\udfff"
HUGE = "a lighthouse at dusk " * 5000  # 100 KB
HUGE_NUMBER = "9" * 40


def en(code: str, **params: object) -> str:
    return translate("en", f"error.{code}", **params)


EMPTY = en("empty_prompt")

# (what follows `/imagine `, the reply); none of it may contain a line break (the console reads lines).
REFUSED: list[tuple[str, str]] = [
    (ZERO_WIDTH, EMPTY),
    (DIRECTION, EMPTY),
    (f"{ZERO_WIDTH} {DIRECTION} \u3164 --ar 16:9", EMPTY),
    ("--ar 16:9 --res 2k", EMPTY),
    (HUGE, en("prompt_too_long", length=len(HUGE.strip()), limit=LIMITS.max_prompt_chars)),
    ("a cat --foo bar", en("unknown_flag", flag="--foo", known=KNOWN_FLAGS)),
    ("a cat --ar", en("flag_needs_value", flag="--ar")),
    ("a cat --ar 99:1", en("ratio_out_of_range", value="99:1", min="1:3", max="3:1")),
    (f"a cat --ar {HUGE_NUMBER}:1", en("bad_ratio", value=f"{HUGE_NUMBER}:1")),
    ("a cat --res 9k", en("bad_resolution", value="9k")),
    ("a cat --n -1", en("bad_count", value="-1", limit=LIMITS.max_images_per_request)),
    (f"a cat --n {HUGE_NUMBER}", en("bad_count", value=HUGE_NUMBER, limit=LIMITS.max_images_per_request)),
    ("a cat --n 1 --n 2", en("flag_repeated", flag="--n")),
    ("a cat —ar 2:1 --AR 1:2", en("flag_repeated", flag="--ar")),
]
# Where the transport carries them (JSON, the console): control characters and lone surrogates.
REFUSED_RAW: list[tuple[str, str]] = [
    (CONTROL, EMPTY),
    (f"{LONE_SURROGATES} {CONTROL}{ZERO_WIDTH}", EMPTY),
    (f"a cat --style {CONTROL}", en("flag_needs_value", flag="--style")),
]
