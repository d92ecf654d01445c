"""Sending without an incoming message: a job finished, a payment arrived, support answered.

Two paths, by how much a reply matters:
- `enqueue` (durable): replies that report a change of money or a result are written to the
  outbox in the same transaction as that change, then delivered by `run`, retried with capped
  backoff until the platform takes them. A crash or an outage delays them; it never loses them.
- `send` (best effort): progress that is worthless once late (queued, previews) is sent at once,
  retried a few times in memory, then dropped. A process without a door for that platform (a
  worker-only process) queues it in the outbox instead, to expire if not sent soon.
Every process with doors drains the outbox for its platforms. A process claims the chats it sends to
for a while (`claim_s`), so no two processes send the same reply, and each chat gets its replies in
order; a process that dies mid-send leaves its claim to lapse, and the reply is sent again: delivery
is at least once, and a key per reply keeps the same reply from being queued twice. An image is the
exception: one whose sending was cut off may have arrived, so its `resend_note` goes instead.
A door raises `ChatUnreachable` when its platform refuses a chat for good (the user blocked the bot):
the chat is recorded, its waiting replies are given up (or, for a platform that only lets the bot
answer after the user writes, kept), and nothing is sent there until someone writes from it again
(`heard_from`). When a private chat keeps replies so, the group the user asked from (if any) gets a
pointer to it without any content (`pointers`).
Logs name the chat's platform only: no content, no ids of people.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import signals
from core.db.leases import Backoff
from core.db.models import Delivery
from core.db.repositories import deliveries as outbox
from core.db.repositories import pointers, reachability
from core.db.session import Database
from core.db.types import utcnow
from core.errors import ChatUnreachable, RetryLater
from core.i18n import Translator
from core.instance import process_name
from core.messages import ChatRef, Event, Reply, text
from core.waiting import stop_if_cancelled, until_woken

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
    claim_s: float = 60.0  # how long a claimed reply is this process's to send
    progress_ttl_s: float = 120.0  # progress queued by a process without doors, then dropped
    parallel_chats: int = 16  # chats sent to at the same time while draining
    owner: str = field(default_factory=lambda: process_name("outbox"))
    _senders: dict[str, ReplySender] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _draining: asyncio.Lock = field(default_factory=asyncio.Lock)  # one drain at a time: no double sends
    _unreachable: dict[str, bool] | None = None  # chat -> keep its replies; refreshed at every drain
    _next_due: datetime | None = None  # the earliest retry the last drain scheduled

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.outbox_backoff_s, self.outbox_backoff_max_s, self.outbox_max_attempts)

    def register(self, sender: ReplySender) -> None:
        self._senders[sender.name] = sender

    @property
    def has_senders(self) -> bool:
        return bool(self._senders)

    async def send(self, chat: ChatRef, replies: Sequence[Reply]) -> bool:
        """Best effort: delivers `replies` in order now; False when one could not be delivered."""
        sender = self._senders.get(chat.platform)
        if sender is None:
            await self._hand_over(chat, replies)
            return True
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
        await enqueue(session, chat, replies, key=key)

    async def _hand_over(self, chat: ChatRef, replies: Sequence[Reply]) -> None:
        """Progress from a process without a door for `chat`: queued for one that has it, briefly."""
        expires_at = utcnow() + timedelta(seconds=self.progress_ttl_s)
        queued = [(f"progress:{secrets.token_hex(8)}", reply.to_json()) for reply in replies]
        async with self.db.transaction() as session:
            await outbox.add_all(session, chat.serialize(), queued, expires_at=expires_at)
            await signals.notify(session, signals.OUTBOX)

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
        """Drains the outbox for this process's platforms until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # the database is unreachable for a moment: keep draining later
                log.exception("outbox: drain failed; trying again shortly")
                stop_if_cancelled()
            wait = self.poll_interval_s
            if self._next_due is not None:
                wait = min(wait, max(0.0, (self._next_due - utcnow()).total_seconds()))
            await until_woken(self._wake, wait)

    async def drain(self) -> int:
        """Delivers every due outbox reply once, in order per chat; returns how many were sent."""
        async with self._draining:
            done = _Done()
            try:
                await self._drain_due(done)
            finally:
                await _before_stopping(self._close(done, release=True))
            return done.count

    async def _drain_due(self, done: _Done) -> None:
        now = utcnow()
        self._next_due = None
        async with self.db.transaction() as session:
            waiting = await outbox.claim(
                session,
                owner=self.owner,
                platforms=self._senders,
                now=now,
                until=now + timedelta(seconds=self.claim_s),
                limit=500,
            )
            self._unreachable = await reachability.all_unreachable(session)
        done.claimed = {delivery.id for delivery in waiting}
        by_chat: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in waiting:
            by_chat[delivery.chat].append(delivery)
        slots = asyncio.Semaphore(self.parallel_chats)

        async def drain_chat(chat: str, deliveries: list[Delivery]) -> None:
            async with slots:
                await self._drain_chat(chat, deliveries, done)

        async with asyncio.TaskGroup() as group:
            for chat, items in by_chat.items():
                group.create_task(drain_chat(chat, items))

    async def _drain_chat(self, key: str, deliveries: list[Delivery], done: _Done) -> None:
        """One chat's replies in order, stopping at the first that is not due or does not go through.
        What went (or expired) is noted in `done` and written with the drain's next write (an image
        about to go, a failure) or at its end."""
        unreachable = await self._unreachable_chats()
        if key in unreachable:
            if not unreachable[key]:
                async with self.db.transaction() as session:
                    await outbox.give_up_chat(session, key)
                done.closed(delivery.id for delivery in deliveries)
            return
        chat = ChatRef.parse(key)
        sender = self._senders[chat.platform]
        for delivery in deliveries:
            now = utcnow()
            if delivery.expires_at is not None and delivery.expires_at <= now:
                done.expired.append(delivery.id)
                continue
            if delivery.next_attempt_at > now:
                self._due_at(delivery.next_attempt_at)
                return  # a backoff holds this chat's later replies too, to keep their order
            reply = Reply.from_json(delivery.payload)
            uncertain = bool(reply.resend_note) and delivery.attempted_at is not None
            if uncertain:
                reply = reply.instead_of_resending()  # cut off mid-send: never the same image twice
            elif reply.resend_note:
                try:
                    await _before_stopping(self._close(done, attempting=(delivery.id, now)))
                except asyncio.CancelledError:  # stopped before sending: it did not go
                    await _before_stopping(self._attempting(delivery.id, None))
                    raise
            try:
                await sender.send(chat, reply)
            except asyncio.CancelledError:
                raise
            except ChatUnreachable as gone:
                if reply.resend_note:  # refused: the image did not arrive, it can go when allowed
                    await _before_stopping(self._attempting(delivery.id, None))
                await self._unreachable_now(chat, gone)
                if gone.keep_pending:
                    await self._point_to(chat)
                return
            except Exception as exc:
                failed = self._failed(
                    done, delivery.id, delivery.attempts + 1, chat, exc, uncertain=uncertain
                )
                await _before_stopping(failed)
                return
            done.went(delivery.id)

    async def _unreachable_chats(self) -> dict[str, bool]:
        if self._unreachable is None:
            async with self.db.read() as session:
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

    async def _point_to(self, chat: ChatRef) -> None:
        """A private chat takes what waits only once the user writes there: the group they asked from
        is told so, without any content. Once: the chat is skipped from now until they write."""
        async with self.db.read() as session:
            pointer = await pointers.of(session, chat.serialize())
        if pointer is None:
            return
        t = Translator(pointer.language)
        said = t("notices.waiting_named", name=pointer.name) if pointer.name else t("notices.waiting")
        await self.send(ChatRef.parse(pointer.origin), [text(said, event=Event.PRIVATE_WAITING)])

    async def _failed(
        self,
        done: _Done,
        delivery_id: int,
        attempts: int,
        chat: ChatRef,
        error: Exception,
        *,
        uncertain: bool = False,
    ) -> None:
        """Schedules a retry; an image that may have arrived earlier stays marked so (`uncertain`)."""
        give_up = self.backoff.exhausted(attempts)
        delay = self.backoff.delay(attempts, at_least=error.seconds if isinstance(error, RetryLater) else 0.0)
        if not give_up:
            self._due_at(utcnow() + delay)
        async with self._writing(done) as session:
            await outbox.mark_failed(
                session,
                delivery_id,
                attempts=attempts,
                next_attempt_at=utcnow() + delay,
                give_up=give_up,
                may_have_arrived=uncertain,
            )
        done.closed([delivery_id])
        if give_up:
            log.error("gave up delivery %s to %s after %d attempts", delivery_id, chat.platform, attempts)
        else:
            log.warning(
                "delivery %s to %s failed (%s); retrying in %.0fs",
                delivery_id,
                chat.platform,
                type(error).__name__,
                delay.total_seconds(),
            )

    async def _attempting(self, delivery_id: int, since: datetime | None) -> None:
        async with self.db.transaction() as session:
            await outbox.mark_attempted(session, delivery_id, since)

    async def _close(
        self, done: _Done, *, attempting: tuple[int, datetime] | None = None, release: bool = False
    ) -> None:
        """Writes what `done` noted, with the mark of an image about to go, in one transaction; at the
        end of a drain (`release`), hands back what it claimed and did not close."""
        release = release and (done.claimed is None or bool(done.claimed.difference(done.sent, done.expired)))
        if not (done.noted or attempting or release):
            return
        async with self._writing(done) as session:
            if attempting is not None:
                await outbox.mark_attempted(session, *attempting)
            if release:
                await outbox.release(session, self.owner)

    @asynccontextmanager
    async def _writing(self, done: _Done) -> AsyncIterator[AsyncSession]:
        """A transaction that also writes what `done` noted (given back to it should this fail)."""
        sent, expired = done.take()
        try:
            async with self.db.transaction() as session:
                await outbox.close(session, sent=sent, expired=expired, now=utcnow())
                yield session
        except BaseException:
            done.put_back(sent, expired)
            raise
        done.closed([*sent, *expired])

    def _due_at(self, moment: datetime) -> None:
        if self._next_due is None or moment < self._next_due:
            self._next_due = moment

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
            except Exception as error:
                log.warning(
                    "delivery to %s failed (attempt %d/%d)",
                    chat.platform,
                    attempt,
                    self.attempts,
                    exc_info=not isinstance(error, RetryLater),  # a wait the door asked for is no fault
                )
                if attempt < self.attempts:
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.error("gave up delivering a %s reply to %s", reply.type.value, chat.platform)
        return False


@dataclass(slots=True)
class _Done:
    """One drain's bookkeeping: the replies it claimed and has not closed (handed back at its end; all
    of them when it is not known what the claim took), and those that went or expired since its last
    write."""

    claimed: set[int] | None = None  # None until the claim is known to have committed
    sent: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    count: int = 0  # replies sent

    @property
    def noted(self) -> bool:
        return bool(self.sent or self.expired)

    def went(self, delivery_id: int) -> None:
        self.sent.append(delivery_id)
        self.count += 1

    def take(self) -> tuple[list[int], list[int]]:
        """What was noted, to be written now; notes made meanwhile wait for the next write."""
        taken = self.sent, self.expired
        self.sent, self.expired = [], []
        return taken

    def put_back(self, sent: list[int], expired: list[int]) -> None:
        self.sent.extend(sent)
        self.expired.extend(expired)

    def closed(self, delivery_ids: Iterable[int]) -> None:
        if self.claimed is not None:
            self.claimed.difference_update(delivery_ids)


async def _before_stopping(bookkeeping: Coroutine[Any, Any, None]) -> None:
    """Records what a send did even when the process is stopping meanwhile: a send recorded neither
    way would count as one that may have arrived."""
    task = asyncio.ensure_future(bookkeeping)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await task
        except Exception:  # the stop goes on regardless: a failure here must not swallow it
            log.exception("outbox: could not record a send while stopping")
        raise


async def enqueue(session: AsyncSession, chat: ChatRef, replies: Sequence[Reply], *, key: str) -> None:
    """Queues `replies` for `chat` in the caller's transaction, for whichever process has its door
    (the CLI has none: the running bot delivers them). `key` makes a repeat a no-op."""
    queued = [(f"{key}:{index}", reply.to_json()) for index, reply in enumerate(replies)]
    await outbox.add_all(session, chat.serialize(), queued)
    await signals.notify(session, signals.OUTBOX)
