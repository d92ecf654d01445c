"""WeCom's limits kept on our side: messages per member per minute."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable

log = logging.getLogger(__name__)

MEMBER_MESSAGES_PER_MINUTE = 30  # WeCom drops what an app sends one member beyond this, silently


class SlidingWindow:
    """At most `limit` sends per `period_s` to each key; a send beyond that waits for a free slot."""

    def __init__(
        self,
        limit: int = MEMBER_MESSAGES_PER_MINUTE,
        period_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._period = period_s
        self._clock = clock
        self._slots: defaultdict[str, deque[float]] = defaultdict(deque)  # reserved send times, in order

    def reserve(self, key: str) -> float:
        """Takes the next free slot for `key`; returns how many seconds to wait before using it."""
        now = self._clock()
        slots = self._slots[key]
        while slots and slots[0] <= now - self._period:
            slots.popleft()
        at = now if len(slots) < self._limit else max(now, slots[-self._limit] + self._period)
        slots.append(at)
        return at - now

    async def wait(self, key: str) -> None:
        delay = self.reserve(key)
        if delay > 0:
            log.info("wecom: %d messages a minute to one chat reached; waiting %.0fs", self._limit, delay)
            await asyncio.sleep(delay)
