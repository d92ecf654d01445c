"""Turns chat text into a command name, its free text and its `--flag value` options.

Prompts keep their exact wording (quotes and apostrophes included): only the recognised
`--name value` segments are cut out. A word that starts with a dash and a letter is a flag however the
dash was typed: phones autocorrect `--` into an em dash, a Chinese IME types `——`, people type one `-`;
so `-ar`, `–ar`, `—ar` and `——ar` all mean `--ar`, and a mistyped one is refused by its command, never
drawn as part of a prompt. A dash inside a word (`a 3-legged stool`) or standing alone stays text.
Control characters and lone surrogates are never meant (and NUL or a surrogate cannot even be stored
in PostgreSQL): each becomes a space first, so the words around it stay apart. Zero-width characters
and direction marks stay, as they belong to emoji and right-to-left writing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.commands.suggest import closest
from core.errors import UserError

_DASH = "(?:--|——|—|–|－－|－|-)"  # longest first: `——` is how a Chinese IME types `--`
_FLAG = re.compile(
    rf"""(?<!\S){_DASH}(?P<name>[A-Za-z][\w-]*)
        (?:=(?P<eq>"[^"]*"|'[^']*'|\S*)
          |\s+(?P<value>"[^"]*"|'[^']*'|(?!{_DASH}[A-Za-z])\S+)
        )?""",
    re.VERBOSE,
)
_COMMAND = re.compile(r"^\s*/(?P<name>[^\s@/]+)(?:@\S+)?(?:\s+|$)", re.UNICODE)
_UNWANTED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")  # all but \t \n \r
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})  # controls, format marks, spaces
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # Hangul fillers, the blank Braille cell


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower-case, without the slash or a `@botname` suffix
    text: str  # everything after the name, flags removed, whitespace trimmed
    flags: dict[str, str] = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        return self.text.split()


FlagsOf = Callable[[str], Mapping[str, str] | None]
"""A command's flags, each name (or alias) to its canonical name; None for a command that ignores flags."""


def parse(
    message: str, *, free_text: frozenset[str] = frozenset(), flags_of: FlagsOf = lambda _name: None
) -> Command | None:
    """None when the message is not a command (does not start with `/`).

    Commands named in `free_text` take their text as written: no flags are cut out of it. A flag the
    command does not know (by `flags_of`) is refused here, before anything else is done."""
    message = _UNWANTED.sub(" ", message)
    match = _COMMAND.match(message)
    if match is None:
        return None
    rest = message[match.end() :]
    if match["name"].lower() in free_text:
        return Command(match["name"].lower(), rest.strip())
    flags: dict[str, str] = {}
    pieces: list[str] = []
    position = 0
    known = flags_of(match["name"].lower())
    for flag in _FLAG.finditer(rest):
        name = flag["name"].lower()
        if known is not None and name not in known:
            raise unknown_flag(name, known)
        value = _unquote(flag["eq"] if flag["eq"] is not None else flag["value"] or "").strip()
        if not value:
            raise UserError("flag_needs_value", flag=f"--{name}")
        if name in flags:
            raise UserError("flag_repeated", flag=f"--{name}")
        flags[name] = value
        pieces.append(rest[position : flag.start()])
        position = flag.end()
    pieces.append(rest[position:])
    text = " ".join(piece.strip() for piece in pieces if piece.strip())
    return Command(match["name"].lower(), text, flags)


def with_typed_options(command: Command, *, flags_of: FlagsOf = lambda _name: None) -> Command:
    """A command a door built from typed input (a Discord slash command's options as `flags`, the
    free-text option as `text`): flags written in the text count too, as if typed in a chat, and the
    same flag given both ways is refused as repeated."""
    written = parse(f"/{command.name} {command.text}", flags_of=flags_of)
    assert written is not None, "a slash and a name make a command"
    flags = dict(written.flags)
    for name, value in command.flags.items():
        if name in flags:
            raise UserError("flag_repeated", flag=f"--{name}")
        flags[name] = _UNWANTED.sub(" ", value).strip()
    return Command(command.name, written.text, flags)


def unknown_flag(name: str, known: Mapping[str, str]) -> UserError:
    """The refusal of `--name`, with the flag it most likely meant when one is near enough."""
    listed = " ".join(f"--{flag}" for flag in dict.fromkeys(known.values()))
    meant = closest(name, known)
    if meant is None:
        return UserError("unknown_flag", flag=f"--{name}", known=listed)
    return UserError("unknown_flag_suggest", flag=f"--{name}", suggestion=f"--{meant}", known=listed)


def whole_number(text: str, *, digits: int = 9) -> int | None:
    """The value of a plain ASCII number ("12", "#12" is not one), or None; never raises."""
    return int(text) if 0 < len(text) <= digits and text.isascii() and text.isdigit() else None


def shows_something(text: str) -> bool:
    """False when `text` would look empty: only spaces, zero-width characters or direction marks."""
    return any(unicodedata.category(char) not in _INVISIBLE and char not in _BLANK_LETTERS for char in text)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
