"""What a WeCom member or customer typed, as the core reads it.

Short replies: `reroll 42`, `up2k 42`, `up4k 42` and `vary 42`, optionally followed by the image
number (`up2k 42 2`), with or without a leading slash, `#42` as well as `42`, and in Chinese
(`重绘`, `放大2k`, `放大4k`, `变体`), are rewritten to the core's `/action 42 upscale-2k 2` before
dispatch. Results list their actions in this form, since WeCom has no buttons.

Reference images: WeCom delivers an image and a text as two messages (images have no caption). The
images a person sends are kept for five minutes; their next `/imagine` (or `/画`, `/生成`) uses them
all, and so does their next plain text that is not a command, taken as the prompt of `/imagine`.
Other commands (`/balance` ...) leave the images waiting. Used images are forgotten.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from core.commands.router import ALIASES
from core.messages import ActionKind, Attachment

REFERENCE_WINDOW_S = 5 * 60
REFERENCES_KEPT = 10  # per person: the most recent ones
SHORTCUT = re.compile(
    r"^/?(?P<kind>reroll|up2k|up4k|vary|重绘|放大2k|放大4k|变体)\s+#?(?P<job>\d{1,9})(?:\s+(?P<index>\d{1,3}))?$",
    re.IGNORECASE,
)
SHORT_KINDS = {
    "reroll": ActionKind.REROLL,
    "重绘": ActionKind.REROLL,
    "up2k": ActionKind.UPSCALE_2K,
    "放大2k": ActionKind.UPSCALE_2K,
    "up4k": ActionKind.UPSCALE_4K,
    "放大4k": ActionKind.UPSCALE_4K,
    "vary": ActionKind.VARY,
    "变体": ActionKind.VARY,
}
COMMAND_NAME = re.compile(r"^/(?P<name>[^\s@/]+)")


def expand_shortcut(text: str) -> str:
    match = SHORTCUT.match(text)
    if match is None:
        return text
    kind = SHORT_KINDS[match["kind"].lower()]
    index = f" {match['index']}" if match["index"] else ""
    return f"/action {match['job']} {kind.value}{index}"


def is_imagine(text: str) -> bool:
    match = COMMAND_NAME.match(text)
    if match is None:
        return False
    name = match["name"].lower()
    return ALIASES.get(name, name) == "imagine"


class References:
    """Recent images per person (by identity), for their next prompt."""

    def __init__(self, window_s: float = REFERENCE_WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self._window = window_s
        self._clock = clock
        self._waiting: OrderedDict[str, list[tuple[float, Attachment]]] = OrderedDict()

    def remember(self, identity: str, image: Attachment) -> None:
        now = self._clock()
        images = [entry for entry in self._waiting.pop(identity, []) if entry[0] > now - self._window]
        self._waiting[identity] = [*images, (now, image)][-REFERENCES_KEPT:]
        while self._waiting and next(iter(self._waiting.values()))[-1][0] <= now - self._window:
            self._waiting.popitem(last=False)

    def waiting(self, identity: str) -> bool:
        images = self._waiting.get(identity, [])
        return bool(images) and images[-1][0] > self._clock() - self._window

    def take(self, identity: str) -> tuple[Attachment, ...]:
        cutoff = self._clock() - self._window
        return tuple(image for at, image in self._waiting.pop(identity, []) if at > cutoff)


def for_core(text: str, identity: str, references: References) -> tuple[str, tuple[Attachment, ...]]:
    """The text to dispatch and the images it refers to."""
    said = expand_shortcut(text.strip())
    if is_imagine(said):
        return said, references.take(identity)
    if said and not said.startswith(("/", "#")) and references.waiting(identity):
        return f"/imagine {said}", references.take(identity)
    return said, ()


def attachment(media_id: str, name: str, download: Callable[[str], Awaitable[bytes]]) -> Attachment:
    """Downloaded from WeCom (temporary media, kept three days) only when the core needs it."""

    async def fetch() -> bytes:
        return await download(media_id)

    return Attachment(name=name, fetch=fetch)
