"""Checks of a recorded send schedule against a token's pace, for the send budget's tests.

Each send is recorded when `acquire` returns, and the schedule is held to the limits themselves, not
to the budget's spacing: the budget paces at `MARGIN` of them, and that margin absorbs a send
recorded a little after its slot. A busy machine can run the event loop later than the margin, so a
probe (`LoopLateness`) measures how late the loop ran meanwhile and the checks allow for that
lateness, no more: a pacing fault (two sends to one chat together, a token over its rate) still
shows however busy the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import defaultdict

from core.send_budget import Pace, SendBudget

PACE = Pace(per_second=200, chat_interval_s=0.5, group_interval_s=1.0)

Sent = tuple[float, str]  # when `acquire` returned (time.monotonic), to which chat


def most_in_one_window(sent: list[Sent], window_s: float) -> int:
    """The most sends any window of `window_s` holds, wherever it starts."""
    times = sorted(at for at, _ in sent)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - window_s:
            first += 1
        most = max(most, last - first + 1)
    return most


def closest_to_one_chat(sent: list[Sent]) -> dict[str, float]:
    """Each chat's shortest time between two of its sends."""
    by_chat: defaultdict[str, list[float]] = defaultdict(list)
    for at, chat in sent:
        by_chat[chat].append(at)
    closest = {}
    for chat, times in by_chat.items():
        times.sort()
        closest[chat] = min((b - a for a, b in itertools.pairwise(times)), default=math.inf)
    return closest


def interval(chat: str, pace: Pace = PACE) -> float:
    return pace.group_interval_s if chat.startswith("g") else pace.chat_interval_s


def assert_within_pace(sent: list[Sent], lateness_s: float, pace: Pace = PACE) -> None:
    """No second holds more than the token's rate and no chat two sends closer than its interval,
    but for `lateness_s`: how late the event loop ran (a send recorded that late looks that much
    closer to the next one)."""
    busiest = most_in_one_window(sent, 1.0 - lateness_s)
    late = f"(event loop up to {lateness_s:.3f} s late)"
    assert busiest <= pace.per_second, f"{busiest} sends in one second {late}"
    closest = closest_to_one_chat(sent)
    too_close = {chat: gap for chat, gap in closest.items() if gap < interval(chat, pace) - lateness_s}
    assert not too_close, f"chats sent to too often: {too_close} {late}"


class LoopLateness:
    """How late the event loop ran timers while the block ran: a probe that sleeps in short steps
    and measures how long after its due time it woke, plus one step (a stall may begin just after
    the probe woke)."""

    STEP_S = 0.005

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._probe: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLateness:
        self._probe = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._probe is not None
        self._probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._probe
        self.worst_s += self.STEP_S

    async def _run(self) -> None:
        while True:
            due = time.monotonic() + self.STEP_S
            await asyncio.sleep(self.STEP_S)
            self.worst_s = max(self.worst_s, time.monotonic() - due)


async def send(budget: SendBudget, chat: str, sent: list[Sent]) -> None:
    """One message to `chat` ("g..." is a group), recorded when the budget lets it go."""
    await budget.acquire(chat, group=chat.startswith("g"))
    sent.append((time.monotonic(), chat))
