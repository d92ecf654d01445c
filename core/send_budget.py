"""One send budget per bot token, however many processes send on it.

A platform limits what one bot token sends: overall (Telegram: about 30 messages a second), to one
chat (about one a second) and to one group (20 a minute), and answers a flood with 429 and a
"retry after". Every message a door sends first waits in `acquire` for a slot; a 429 becomes `hold`.

Pacing is by spacing (GCRA): each send takes the token's next slot, slot = max(next free, now, held
until), and moves next free one spacing on; a chat's next send is one chat spacing after its last
slot. Slots at least 1/rate apart never put more than the rate into any one-second window, sliding,
not only into whole seconds. The spacings are stretched by `MARGIN` (pace at 90% of each limit):
a send leaves a little after its slot (the event loop, the network), and the 10% absorb such
lateness, up to 0.1 s for the token's one-second windows and a tenth of a chat's interval, before
the platform could count more than its limit. A busy event loop wakes its senders later than that,
all at once: in one process they then leave at most the pace's share of a second in any second, in
their order; where processes share the token, a slot woken that late is given up for a new one.

A hold moves every later slot past its end. A sender already waiting for a slot taken before the
hold gives it up when it wakes within the hold and takes a new one: a hold placed in this process is
known at once, one placed in another process as soon as it is announced (`SharedBudget`).

A chat that is not free yet reserves nothing: its sender sleeps until the chat is free and asks
again. Reserving the token's slot that far ahead would leave the token idle meanwhile for every
other chat; reserving the chat's slot apart from the token's would let the token's own queue push
the send closer to the chat's next one than the chat allows.

`send_budget` picks the implementation: in the process's memory on SQLite (one process), through
PostgreSQL where several processes may share the token (`core/db/repositories/send_pace.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.repositories import send_pace
from core.db.session import Database

MARGIN = 0.9  # the share of each platform limit actually used
PRUNE_EVERY_S = 60.0  # how often chats free again are forgotten
LATE_S = 1.0 - MARGIN  # a slot used this late could still, with the rest, exceed the limit

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pace:
    """A platform's limits for one token (the limits themselves: `MARGIN` is applied here)."""

    per_second: float  # the whole token's messages a second (Telegram: 30)
    chat_interval_s: float  # between two messages to one private chat (Telegram: 1.0)
    group_interval_s: float  # between two messages to one group chat (Telegram: 3.0, 20 a minute)

    @property
    def spacing_s(self) -> float:
        """Between two slots of the token."""
        return 1.0 / (self.per_second * MARGIN)

    def chat_spacing_s(self, *, group: bool) -> float:
        return (self.group_interval_s if group else self.chat_interval_s) / MARGIN


class SendBudget(Protocol):
    async def acquire(self, chat: str, *, group: bool = False, chat_only: bool = False) -> None:
        """Waits until one more message may go to `chat` under the token's pace and the chat's own;
        `chat_only`: under the chat's own alone (what the platform counts against the chat but not
        the token, such as an edit). A hold stops both."""

    async def hold(self, seconds: float) -> None:
        """The platform answered 429 with "retry after": no process sends on this token until then."""

    def due_in(self, chat: str, *, group: bool = False) -> float:
        """Seconds until `chat` may be sent to (0: now), reserving nothing, so that a sender can pick a
        chat that is ready first. A hint: another process may take the slot meanwhile."""


def send_budget(db: Database, key: str, pace: Pace) -> SendBudget:
    """The budget of the token `key` (see `token_key`): shared through the database on PostgreSQL,
    in memory on SQLite, where one process runs."""
    return LocalBudget(pace) if db.is_sqlite else SharedBudget(db, key, pace)


def token_key(platform: str, secret: str) -> str:
    """Names a token without containing it: the same in every process, nothing to steal from it."""
    return f"{platform}:{hashlib.sha256(secret.encode()).hexdigest()[:32]}"


class _Schedule:
    """What this process knows of the schedule, in `time.monotonic` seconds: exact for `LocalBudget`,
    what its own sends learned for `SharedBudget` (the hint behind its `due_in`)."""

    def __init__(self) -> None:
        self.next_free = -math.inf
        self.held_until = -math.inf
        self.chats: dict[str, float] = {}
        self._pruned = time.monotonic()

    def chat_free(self, chat: str) -> float:
        return self.chats.get(chat, -math.inf)

    def due_in(self, chat: str) -> float:
        now = time.monotonic()
        return max(self.chat_free(chat), self.next_free, self.held_until, now) - now

    def prune_due(self, now: float) -> bool:
        if now - self._pruned < PRUNE_EVERY_S:
            return False
        self._pruned = now
        self.chats = {chat: free for chat, free in self.chats.items() if free > now}
        return True


class LocalBudget:
    """The budget in this process's memory: no database, no lock (the event loop decides in turn)."""

    def __init__(self, pace: Pace) -> None:
        self._pace = pace
        self._schedule = _Schedule()
        self._sent: deque[float] = deque()  # when the last messages of the second were let go
        self._letting_go = asyncio.Lock()

    async def acquire(self, chat: str, *, group: bool = False, chat_only: bool = False) -> None:
        schedule = self._schedule
        while True:
            now = time.monotonic()
            schedule.prune_due(now)
            if schedule.chat_free(chat) > now:
                await _sleep_until(schedule.chat_free(chat))
                continue
            if chat_only:
                slot = max(now, schedule.held_until)
            else:
                slot = max(schedule.next_free, now, schedule.held_until)
                schedule.next_free = slot + self._pace.spacing_s
            schedule.chats[chat] = slot + self._pace.chat_spacing_s(group=group)
            await _sleep_until(slot)
            if schedule.held_until > slot:  # a hold came while waiting: take a slot after it
                continue
            if not chat_only:
                await self._room_in_the_second()
            return

    async def _room_in_the_second(self) -> None:
        """A busy event loop wakes its waiting senders late, all at once: let go at most the pace's
        share of a second's messages in any second, in the order they woke, instead of sending them
        together (one process knows every send of its token: a slot woken late keeps its place)."""
        sent, most = self._sent, max(1, math.floor(self._pace.per_second * MARGIN))
        async with self._letting_go:  # first come, first served
            while True:
                now = time.monotonic()
                while sent and sent[0] <= now - 1.0:
                    sent.popleft()
                if len(sent) < most:
                    sent.append(now)
                    return
                await _sleep_until(sent[0] + 1.0)

    async def hold(self, seconds: float) -> None:
        self._schedule.held_until = max(self._schedule.held_until, time.monotonic() + seconds)

    def due_in(self, chat: str, *, group: bool = False) -> float:
        return self._schedule.due_in(chat)

    async def close(self) -> None:
        return None


class SharedBudget:
    """The budget in PostgreSQL, one row per token and per chat, shared by every process.

    Its statements run one at a time on a connection of its own, each alone (autocommit): each is
    atomic by itself (the function it calls locks the token's row). A connection taken from the pool
    for each message would cost a ping (about 0.3 ms of CPU), a BEGIN and a COMMIT two more round
    trips; the statement alone costs about 0.2 ms of CPU. The connection also listens for holds, so
    that a slot taken before a hold that another process placed is given up, not used, without asking
    the database again once the slot comes."""

    def __init__(self, db: Database, key: str, pace: Pace) -> None:
        self._engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._key = key
        self._pace = pace
        self._schedule = _Schedule()
        self._connection: AsyncConnection | None = None
        self._turn = asyncio.Lock()

    async def acquire(self, chat: str, *, group: bool = False, chat_only: bool = False) -> None:
        chat_spacing = self._pace.chat_spacing_s(group=group)
        spacing = None if chat_only else self._pace.spacing_s
        schedule = self._schedule
        while True:
            wait, taken, held = await self._run(send_pace.take, chat, spacing, chat_spacing)
            now = time.monotonic()
            if held > 0:
                schedule.held_until = max(schedule.held_until, now + held)
            if schedule.prune_due(now):
                await self._run(send_pace.prune)
            if not taken:
                schedule.chats[chat] = now + wait
                await _sleep_until(now + wait)
                continue
            slot = now + wait
            if not chat_only:
                schedule.next_free = max(schedule.next_free, slot + self._pace.spacing_s)
            schedule.chats[chat] = slot + chat_spacing
            await _sleep_until(slot)
            if _still_good(slot, schedule):
                return

    async def hold(self, seconds: float) -> None:
        await self._run(send_pace.hold, seconds)
        self._held(seconds)

    def due_in(self, chat: str, *, group: bool = False) -> float:
        return self._schedule.due_in(chat)

    async def close(self) -> None:
        async with self._turn:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                await (await _driver(connection)).remove_listener(send_pace.HOLD_CHANNEL, self._heard)
                await connection.close()

    async def _run(self, statement: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`statement` on the budget's connection; a connection that failed is dropped, not reused."""
        async with self._turn:
            if self._connection is None:
                connection = await self._engine.connect()
                await (await _driver(connection)).add_listener(send_pace.HOLD_CHANNEL, self._heard)
                self._connection = connection
            try:
                return await statement(self._connection, self._key, *args)
            except BaseException:
                connection, self._connection = self._connection, None
                await connection.invalidate()
                await connection.close()
                raise

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        key, seconds = payload.rsplit(" ", 1)
        if key == self._key:
            self._held(float(seconds))

    def _held(self, seconds: float) -> None:
        self._schedule.held_until = max(self._schedule.held_until, time.monotonic() + seconds)


async def _driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection` (listeners are the driver's own)."""
    return (await connection.get_raw_connection()).driver_connection


def _still_good(slot: float, schedule: _Schedule) -> bool:
    """Whether a slot of the shared schedule waited for may be used: no hold came meanwhile, and this
    process woke in time. A busy event loop wakes its waiting senders late, all at once; sent
    together with other processes' messages they could put more into one second than the spacing
    allows, so a slot missed by more than the margin covers is given up and a new one taken."""
    return schedule.held_until <= slot and time.monotonic() - slot <= LATE_S


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
