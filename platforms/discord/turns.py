"""Acknowledgements before work: in a burst, the event loop's time goes to answering Discord first.

Discord fails an interaction that is not acknowledged within 3 seconds. Every interaction is
acknowledged before the core runs for it, and the core's work (tens of milliseconds of the event
loop each) runs for at most `slots` requests at once: the others wait, costing nothing, so between
two steps of an acknowledgement only a few steps of the core run, however many requests are pending.

Acknowledgements themselves go out at most `acks_at_once` at a time. Each one sent at the same time
as all the others would open a connection of its own, and opening thousands of connections costs the
event loop more than the acknowledgements; a bounded number are reused, one request after another.
The bound is about Discord's round trip (~0.1 s) times the rate a burst needs (~1,000 a second).

An acknowledgement Discord has not answered within `ACK_TIMEOUT_S` is given up (the interaction has
failed for the user by then).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")
ACK_TIMEOUT_S = 10.0
CORE_SLOTS = 4
ACKS_AT_ONCE = 100


class Turns:
    def __init__(self, slots: int = CORE_SLOTS, acks_at_once: int = ACKS_AT_ONCE) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._sending = asyncio.Semaphore(acks_at_once)

    async def acknowledge(self, ack: Callable[[], Awaitable[T]]) -> T:
        """Sends an acknowledgement in its turn; raises TimeoutError after `ACK_TIMEOUT_S`."""
        async with asyncio.timeout(ACK_TIMEOUT_S), self._sending:
            return await ack()

    @asynccontextmanager
    async def core(self) -> AsyncIterator[None]:
        """A turn of the core, within the slots."""
        async with self._slots:
            yield
