"""Sending without an incoming message: a job finished, a payment arrived, support answered.

Two paths, by how much a reply matters:
- `enqueue` (durable): replies that report a change of money or a result are written to the
  outbox in the same transaction as that change, then delivered by `run`, retried with capped
  backoff until the platform takes them. A crash or an outage delays them; it never loses them.
- `send` (best effort): progress that is worthless once late (queued, previews) is sent at once,
  retried a few times in memory, then dropped.
A door raises `ChatUnreachable` when its platform refuses a chat for good (the user blocked the bot):
the chat is recorded, its waiting replies are given up (or, for a platform that only lets the bot
answer after the user writes, kept), and nothing is sent there until someone writes from it again
(`heard_from`).
Logs name the chat's platform only: no content, no ids of people.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.repositories import deliveries as outbox
from core.db.repositories import reachability
from core.db.session import Database
from core.db.types import utcnow
from core.errors import ChatUnreachable
from core.messages import ChatRef, Reply

log = logging.getLogger(__name__)


class ReplySender(Protocol):
    """What every platform adapter provides to the core."""

    name: str

    async def send(self, chat: ChatRef, reply: Reply) -> None: ...


@dataclass(slots=True)
class Notifier:
    db: Database
    attempts: int = 3  # best-effort sends
    backoff_s: float = 1.0
    outbox_backoff_s: float = 2.0
    outbox_backoff_max_s: float = 300.0
    outbox_max_attempts: int = 20  # about an hour and a half of trying with the defaults
    poll_interval_s: float = 5.0
    _senders: dict[str, ReplySender] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _draining: asyncio.Lock = field(default_factory=asyncio.Lock)  # one drain at a time: no double sends
    _unreachable: dict[str, bool] | None = None  # chat -> keep its replies; loaded on first use

    def register(self, sender: ReplySender) -> None:
        self._senders[sender.name] = sender

    async def send(self, chat: ChatRef, replies: Sequence[Reply]) -> bool:
        """Best effort: delivers `replies` in order now; False when one could not be delivered."""
        sender = self._senders.get(chat.platform)
        if sender is None:
            log.warning("no adapter for platform %s: %d replies dropped", chat.platform, len(replies))
            return False
        if chat.serialize() in await self._unreachable_chats():
            return False
        for reply in replies:
            if not await self._send_with_retries(sender, chat, reply):
                return False
        return True

    async def enqueue(
        self, session: AsyncSession, chat: ChatRef, replies: Sequence[Reply], *, key: str
    ) -> None:
        """Durable: queues `replies` inside the caller's transaction; `key` makes a repeat a no-op."""
        for index, reply in enumerate(replies):
            await outbox.add(session, key=f"{key}:{index}", chat=chat.serialize(), payload=reply.to_json())

    async def heard_from(self, chat: ChatRef) -> None:
        """Someone wrote from `chat`: it can be delivered to again."""
        key = chat.serialize()
        unreachable = await self._unreachable_chats()
        if key in unreachable:
            async with self.db.transaction() as session:
                await reachability.mark_reachable(session, key)
            if unreachable.pop(key, False):
                self.wake()  # what was kept for this chat can go now

    def wake(self) -> None:
        """Call after the transaction that enqueued has committed, to deliver without waiting."""
        self._wake.set()

    async def run(self) -> None:
        """Drains the outbox until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # the database is unreachable for a moment: keep draining later
                log.exception("outbox: drain failed; trying again shortly")
            with suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval_s):
                    await self._wake.wait()

    async def drain(self) -> int:
        """Delivers every due outbox reply once, in order per chat; returns how many were sent."""
        async with self._draining:
            return await self._drain_due()

    async def _drain_due(self) -> int:
        async with self.db.transaction() as session:
            waiting = await outbox.pending(session, limit=500)
        unreachable = await self._unreachable_chats()
        now = utcnow()
        sent = 0
        held_back: set[str] = set()  # a chat whose earlier reply is not through yet keeps its order
        for delivery in waiting:
            if delivery.chat in unreachable:
                if not unreachable[delivery.chat]:
                    async with self.db.transaction() as session:
                        await outbox.give_up_chat(session, delivery.chat)
                continue
            if delivery.chat in held_back or delivery.next_attempt_at > now:
                held_back.add(delivery.chat)
                continue
            chat = ChatRef.parse(delivery.chat)
            sender = self._senders.get(chat.platform)
            try:
                if sender is None:
                    raise LookupError(f"no adapter for platform {chat.platform}")
                await sender.send(chat, Reply.from_json(delivery.payload))
            except asyncio.CancelledError:
                raise
            except ChatUnreachable as gone:
                await self._unreachable_now(chat, gone)
                continue
            except Exception as exc:
                held_back.add(delivery.chat)
                await self._failed(delivery.id, delivery.attempts + 1, chat, exc)
                continue
            async with self.db.transaction() as session:
                await outbox.mark_sent(session, delivery.id, utcnow())
            sent += 1
        return sent

    async def _unreachable_chats(self) -> dict[str, bool]:
        if self._unreachable is None:
            async with self.db.transaction() as session:
                self._unreachable = await reachability.all_unreachable(session)
        return self._unreachable

    async def _unreachable_now(self, chat: ChatRef, gone: ChatUnreachable) -> None:
        key = chat.serialize()
        async with self.db.transaction() as session:
            await reachability.mark_unreachable(session, key, keep_pending=gone.keep_pending)
        (await self._unreachable_chats())[key] = gone.keep_pending
        if gone.keep_pending:
            log.warning("a %s chat takes replies only after the user writes; keeping them", chat.platform)
        else:
            log.warning("a %s chat can no longer be reached; its deliveries are stopped", chat.platform)

    async def _failed(self, delivery_id: int, attempts: int, chat: ChatRef, error: Exception) -> None:
        give_up = attempts >= self.outbox_max_attempts
        delay = min(self.outbox_backoff_s * 2 ** (attempts - 1), self.outbox_backoff_max_s)
        async with self.db.transaction() as session:
            await outbox.mark_failed(
                session,
                delivery_id,
                attempts=attempts,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
                give_up=give_up,
            )
        if give_up:
            log.error("gave up delivery %s to %s after %d attempts", delivery_id, chat.platform, attempts)
        else:
            log.warning(
                "delivery %s to %s failed (%s); retrying in %.0fs",
                delivery_id,
                chat.platform,
                type(error).__name__,
                delay,
            )

    async def _send_with_retries(self, sender: ReplySender, chat: ChatRef, reply: Reply) -> bool:
        for attempt in range(1, self.attempts + 1):
            try:
                await sender.send(chat, reply)
                return True
            except asyncio.CancelledError:
                raise
            except ChatUnreachable as gone:
                await self._unreachable_now(chat, gone)
                return False
            except Exception:
                log.warning(
                    "delivery to %s failed (attempt %d/%d)",
                    chat.platform,
                    attempt,
                    self.attempts,
                    exc_info=True,
                )
                if attempt < self.attempts:
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.error("gave up delivering a %s reply to %s", reply.type.value, chat.platform)
        return False
