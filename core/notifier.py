"""Sending without an incoming message: a job finished, a payment arrived, support answered.

Routes a chat reference to the adapter of its platform. A failed send is retried with backoff;
what still fails is logged with the chat's platform only (no content, no ids of people).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from core.messages import ChatRef, Reply

log = logging.getLogger(__name__)


class ReplySender(Protocol):
    """What every platform adapter provides to the core."""

    name: str

    async def send(self, chat: ChatRef, reply: Reply) -> None: ...


class Notifier:
    def __init__(self, *, attempts: int = 3, backoff_s: float = 1.0) -> None:
        self._senders: dict[str, ReplySender] = {}
        self._attempts = attempts
        self.backoff_s = backoff_s

    def register(self, sender: ReplySender) -> None:
        self._senders[sender.name] = sender

    async def send(self, chat: ChatRef, replies: Sequence[Reply]) -> bool:
        """Delivers `replies` in order; False when one could not be delivered (it is logged)."""
        sender = self._senders.get(chat.platform)
        if sender is None:
            log.warning("no adapter for platform %s: %d replies dropped", chat.platform, len(replies))
            return False
        for reply in replies:
            if not await self._deliver(sender, chat, reply):
                return False
        return True

    async def _deliver(self, sender: ReplySender, chat: ChatRef, reply: Reply) -> bool:
        for attempt in range(1, self._attempts + 1):
            try:
                await sender.send(chat, reply)
                return True
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "delivery to %s failed (attempt %d/%d)",
                    chat.platform,
                    attempt,
                    self._attempts,
                    exc_info=True,
                )
                if attempt < self._attempts:
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.error("gave up delivering a %s reply to %s", reply.type.value, chat.platform)
        return False
