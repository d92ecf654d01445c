"""The operator's content rules: words and patterns a prompt may not contain, everywhere and per chat.

Checked before anything is reserved (core.commands.imagine), case-insensitively. Patterns are
compiled once, at start, and both patterns and the prompt they are matched against are bounded, so a
rule costs little however it is written. A refusal never names what matched.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from core.messages import ChatRef
from core.policy import Section

MAX_PATTERN_CHARS = 200
MAX_RULES = 500
CHECKED_PROMPT_CHARS = 8000  # beyond any prompt accepted (generation.max_prompt_chars), a bound all the same

Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATTERN_CHARS)]


class Rules(Section):
    blocked_words: list[Word] = Field(default_factory=list, max_length=MAX_RULES)
    blocked_patterns: list[Pattern] = Field(default_factory=list, max_length=MAX_RULES)

    @field_validator("blocked_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
        return patterns


class ModerationSettings(Rules):
    """`[moderation]`, and `[moderation.chats."telegram:supergroup:-100123"]` for one chat (its rules
    add to the global ones), keyed as chats are serialised everywhere: platform:kind:id."""

    chats: dict[str, Rules] = Field(default_factory=dict)

    @field_validator("chats")
    @classmethod
    def _chat_refs(cls, chats: dict[str, Rules]) -> dict[str, Rules]:
        for key in chats:
            try:
                ChatRef.parse(key)
            except ValueError:
                raise ValueError(f"{key!r} is not a chat like 'telegram:supergroup:-100123'") from None
        return chats


class _Compiled:
    def __init__(self, rules: Rules) -> None:
        self.words = tuple(word.casefold() for word in rules.blocked_words)
        self.patterns = tuple(re.compile(pattern, re.IGNORECASE) for pattern in rules.blocked_patterns)

    def matches(self, folded: str, prompt: str) -> bool:
        return any(word in folded for word in self.words) or any(p.search(prompt) for p in self.patterns)


class ContentRules:
    """The rules compiled once; `blocks(prompt, chat)` says whether a prompt breaks one."""

    def __init__(self, settings: ModerationSettings | None = None) -> None:
        settings = settings or ModerationSettings()
        self._everywhere = _Compiled(settings)
        self._chats = {key: _Compiled(rules) for key, rules in settings.chats.items()}

    def blocks(self, prompt: str, chat: ChatRef) -> bool:
        checked = prompt[:CHECKED_PROMPT_CHARS]
        folded = checked.casefold()
        if self._everywhere.matches(folded, checked):
            return True
        scoped = self._chats.get(chat.serialize())
        return scoped is not None and scoped.matches(folded, checked)
