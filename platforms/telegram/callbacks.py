"""Button data: compact, signed, and free of anything private.

Telegram gives a button 64 bytes of data and hands it back verbatim on a press, from anyone who can
see the message. The data names a job action (`j:42:2:1`) or a command shortcut (`c:/language en`)
and ends with a signature keyed by the bot token, so a forged or altered press is refused while
presses on messages from before a restart keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from core.messages import ActionKind, Button, Choice

MAX_BYTES = 64
SIGNATURE_CHARS = 11  # 8 bytes of HMAC-SHA256, base64url without padding
KIND_CODES = {
    ActionKind.REROLL: "r",
    ActionKind.UPSCALE_2K: "2",
    ActionKind.UPSCALE_4K: "4",
    ActionKind.VARY: "v",
}
CODE_KINDS = {code: kind for kind, code in KIND_CODES.items()}


@dataclass(frozen=True, slots=True)
class JobPress:
    job_id: int
    kind: ActionKind
    index: int


@dataclass(frozen=True, slots=True)
class CommandPress:
    command: str


@dataclass(frozen=True, slots=True)
class StarsPress:
    pack_id: str


class CallbackSigner:
    def __init__(self, token: str) -> None:
        self._key = hmac.new(token.encode(), b"image2bot telegram buttons", hashlib.sha256).digest()

    def for_button(self, job_id: int, button: Button) -> str:
        return self._signed(f"j:{job_id}:{KIND_CODES[button.kind]}:{button.index}")

    def for_choice(self, choice: Choice) -> str | None:
        """None when the command is too long to fit a button (the text still says what to type)."""
        data = self._signed(f"c:{choice.command}")
        return data if len(data.encode()) <= MAX_BYTES else None

    def for_stars(self, pack_id: str) -> str:
        return self._signed(f"s:{pack_id}")

    def read(self, data: str) -> JobPress | CommandPress | StarsPress | None:
        """What a press asks for, or None when the data is not ours or was altered."""
        payload, _, signature = data.rpartition("|")
        given = signature.encode("utf-8", "replace")  # anyone can send any text, lone surrogates included
        if not payload or not hmac.compare_digest(given, self._signature(payload).encode()):
            return None
        kind, _, rest = payload.partition(":")
        if kind == "c" and rest.startswith("/"):
            return CommandPress(rest)
        if kind == "s" and rest:
            return StarsPress(rest)
        if kind == "j":
            parts = rest.split(":")
            if len(parts) == 3 and parts[0].isdigit() and parts[1] in CODE_KINDS and parts[2].isdigit():
                return JobPress(int(parts[0]), CODE_KINDS[parts[1]], int(parts[2]))
        return None

    def _signed(self, payload: str) -> str:
        return f"{payload}|{self._signature(payload)}"

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()[:8]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
