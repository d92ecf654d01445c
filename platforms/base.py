"""What every door into the core provides, and what it declares it can do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.messages import ChatRef, Reply


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Platforms differ only through these, never through their names."""

    edit_messages: bool = False
    buttons: bool = False
    max_upload_bytes: int = 50 * 1024 * 1024
    max_text_chars: int = 4096


class Adapter(Protocol):
    name: str
    capabilities: Capabilities

    async def start(self) -> None:
        """Serves until `stop()` is called (or, for the console, until its input ends)."""
        ...

    async def stop(self) -> None: ...

    @property
    def connected(self) -> bool:
        """Whether the door can receive and send now (readiness): false while it connects, after it
        lost its connection, and once stopped."""
        ...

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Delivers one reply to a chat; raises when it could not (the notifier retries)."""
        ...
