"""Telegram's limits, kept for the bot token across every process that speaks for it.

Every Bot API call passes python-telegram-bot's rate-limiter hook, `TokenPace`. A call that posts a
message waits for its turn in the token's send budget (`core.send_budget`): about 30 messages a
second in all, one a second to a chat, 20 a minute to a group. An edit takes its chat's turn but no
place in the token's queue: Telegram counts it against the chat, not among the messages a second.
Everything else (deleting, chat actions, answering a button, files, getUpdates) goes at once. A 429
holds the whole token, in every process, for the `retry_after` Telegram asked, then the call is
tried again.

A caller that waited for its turn itself (to merge what piled up meanwhile into one message) passes
`rate_limit_args=ALREADY_PACED`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from core.send_budget import SendBudget

log = logging.getLogger(__name__)

MESSAGES = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendInvoice",
        "sendAnimation",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "copyMessage",
        "forwardMessage",
    }
)
EDITS = frozenset({"editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup"})
ALREADY_PACED = "already paced"
MAX_RETRIES = 3

Result = bool | dict[str, Any] | list[dict[str, Any]]


class TokenPace(BaseRateLimiter[str]):
    def __init__(self, budget: SendBudget, *, max_retries: int = MAX_RETRIES) -> None:
        self._budget = budget
        self._max_retries = max_retries

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        await self._budget.close()  # a shared budget lets go of its connection

    async def turn(self, chat_id: int | str, *, edit: bool = False) -> None:
        """Waits until one more message (or an edit) may go to `chat_id`."""
        await self._budget.acquire(str(chat_id), group=_is_group(chat_id), chat_only=edit)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: str | None,
    ) -> Result:
        chat_id = data.get("chat_id")
        paced = chat_id is not None and (endpoint in MESSAGES or endpoint in EDITS)
        edit = endpoint in EDITS
        waited = rate_limit_args == ALREADY_PACED
        attempt = 0
        while True:
            if paced and not waited:
                await self.turn(chat_id, edit=edit)  # type: ignore[arg-type]
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as flood:
                attempt += 1
                if attempt > self._max_retries:
                    raise
                seconds = retry_seconds(flood)
                log.warning("telegram: flood limit on %s; every process waits %.0fs", endpoint, seconds)
                await self._budget.hold(seconds)
                waited = False  # the hold moved every turn: take a new one


def _is_group(chat_id: int | str) -> bool:
    """Groups, supergroups and channels have negative ids (or an @username)."""
    return isinstance(chat_id, str) or chat_id < 0


def retry_seconds(flood: RetryAfter) -> float:
    """How long Telegram asked to wait (PTB gives seconds or a timedelta)."""
    value = flood.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
