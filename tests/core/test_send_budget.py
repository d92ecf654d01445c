"""The send budget keeps a token's pace and each chat's, across senders (and processes: tests/scale).

The pace here is fast (200 messages a second) so that a test takes about a second; the guarantee is
the same at Telegram's 30. How the recorded schedule is checked: `tests/core/send_schedule.py`.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from core.db.session import Database
from core.send_budget import LocalBudget, Pace, SendBudget, SharedBudget, send_budget, token_key
from tests.core.send_schedule import PACE, LoopLateness, Sent, assert_within_pace, send
from tests.harness import DatabaseTarget, make_settings


@pytest_asyncio.fixture
async def db(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Database]:
    opened = make_settings(database, tmp_path).open_database()
    yield opened
    await opened.dispose()


@pytest.fixture
def key() -> str:
    """A token of the test's own: holds are announced to every process on the database server."""
    return f"test:{secrets.token_hex(4)}"


@pytest_asyncio.fixture
async def budget(db: Database, key: str) -> AsyncIterator[SendBudget]:
    opened = send_budget(db, key, PACE)
    yield opened
    await opened.close()


async def test_one_process_keeps_memory_many_share_the_database(db: Database, budget: SendBudget) -> None:
    assert isinstance(budget, LocalBudget if db.is_sqlite else SharedBudget)


async def test_concurrent_senders_keep_the_token_pace_and_each_chats(budget: SendBudget) -> None:
    """Forty senders to private chats picked at random (some twice, close together) fill the token;
    two more take turns on three groups."""
    chats = [f"c{n}" for n in range(600)]
    groups = ["g0", "g1", "g2"]
    sent: list[Sent] = []

    async def sender(seed: int, chats: list[str], count: int) -> None:
        rng = random.Random(seed)
        for _ in range(count):
            await send(budget, rng.choice(chats), sent)

    async with LoopLateness() as lateness, asyncio.TaskGroup() as senders:
        for seed in range(40):
            senders.create_task(sender(seed, chats, 6))
        for seed in range(2):
            senders.create_task(sender(seed, groups, 3))

    assert len(sent) == 40 * 6 + 2 * 3
    assert_within_pace(sent, lateness.worst_s)


async def test_a_hold_stops_every_sender_even_those_already_waiting(
    db: Database, key: str, budget: SendBudget
) -> None:
    """Forty senders keep the token busy, so each is waiting for a slot already taken when the hold
    comes. On PostgreSQL the hold comes through another budget on the same token, as from another
    process: the senders' budget hears of it through the database."""
    holder = budget if db.is_sqlite else send_budget(db, key, PACE)
    hold_s = 1.0  # longer than the token's queue of slots already taken (40 x 5.6 ms)
    sent: list[Sent] = []
    after_hold: list[float] = []  # when each send asked for once the hold was in place went
    hold: dict[str, float] = {}  # when it began, when it was in place, when the senders' budget knew
    sending, enough = asyncio.Event(), asyncio.Event()

    async def sender(number: int) -> None:
        while not enough.is_set():
            asked_after_hold = "placed" in hold
            await send(budget, f"c{number}-{len(sent)}", sent)
            if len(sent) >= 30:
                sending.set()
            if asked_after_hold:
                after_hold.append(sent[-1][0])
            if len(after_hold) >= 20 and "heard" in hold:
                enough.set()

    async def hold_once_sending() -> None:
        await sending.wait()
        hold["began"] = time.monotonic()
        await holder.hold(hold_s)
        hold["placed"] = time.monotonic()
        # The budget's own state: there is no event to wait on.
        while budget.due_in("c") < hold["began"] + hold_s - time.monotonic() - 0.01:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        hold["heard"] = time.monotonic()

    try:
        async with LoopLateness() as lateness, asyncio.timeout(30), asyncio.TaskGroup() as tasks:
            tasks.create_task(hold_once_sending())
            for number in range(40):
                tasks.create_task(sender(number))
    finally:
        if holder is not budget:
            await holder.close()

    held_until = hold["began"] + hold_s
    assert min(after_hold) >= held_until
    assert not [at for at, _ in sent if hold["heard"] <= at < held_until]
    assert_within_pace(sent, lateness.worst_s)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_another_process_hears_of_a_hold_without_asking(db: Database, key: str) -> None:
    """Six sends wait for slots already taken, a twentieth of a second apart, and this process asks
    the database nothing more: the hold another process places still stops them, since it is
    announced to every process (one slot may pass while the announcement is on its way)."""
    pace = Pace(per_second=20, chat_interval_s=1.0, group_interval_s=1.0)
    budget, holder = send_budget(db, key, pace), send_budget(db, key, pace)
    chats = [f"c{number}" for number in range(6)]
    sent: list[Sent] = []
    try:
        sending = [asyncio.create_task(send(budget, chat, sent)) for chat in chats]
        async with asyncio.timeout(10):
            # Every slot taken: each chat then waits for its next send, well beyond the token's
            # queue that a chat not sent to waits for. The budget's own state: no event to wait on.
            while not all(budget.due_in(chat) > budget.due_in("none") + 0.4 for chat in chats):  # noqa: ASYNC110
                await asyncio.sleep(0.001)
        began = time.monotonic()
        await holder.hold(2.0)
        await asyncio.gather(*sending)
    finally:
        await budget.close()
        await holder.close()

    assert len(sent) == len(chats)
    assert len([at for at, _ in sent if began <= at < began + 2.0]) <= 1


async def test_a_chat_that_must_wait_leaves_the_token_to_the_others(db: Database, key: str) -> None:
    """The group's second message waits half a minute for the group, and meanwhile reserves nothing
    of the token: other chats' messages go out at the token's pace, long before it."""
    budget = send_budget(db, key, Pace(per_second=200, chat_interval_s=0.5, group_interval_s=30.0))
    try:
        await budget.acquire("g", group=True)
        waiting = asyncio.create_task(budget.acquire("g", group=True))
        for number in range(20):
            await budget.acquire(f"c{number}")
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        await budget.close()


async def test_an_edit_takes_its_chats_turn_but_no_place_in_the_tokens_queue(db: Database, key: str) -> None:
    """At two messages a second, forty messages queue twenty seconds deep; an edit to a chat of its
    own goes past them at once, and a second edit to that chat still waits for the chat's turn."""
    budget = send_budget(db, key, Pace(per_second=2, chat_interval_s=30.0, group_interval_s=30.0))
    queued = [asyncio.create_task(budget.acquire(f"c{number}")) for number in range(40)]
    try:
        await budget.acquire("edited", chat_only=True)
        assert sum(task.done() for task in queued) < 5, "the edit did not wait behind the messages"
        again = asyncio.create_task(budget.acquire("edited", chat_only=True))
        await asyncio.sleep(0)
        assert budget.due_in("edited") > 20, "the chat's own turn still holds its next edit"
        assert not again.done()
        again.cancel()
    finally:
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        await budget.close()


async def test_senders_a_busy_process_wakes_late_still_leave_at_the_pace_in_their_order() -> None:
    """Forty senders wait for their slots (20 a second); the event loop is then kept busy for a
    second, so that every slot due meanwhile is missed at once. They leave in the order of their
    slots, never more than the pace's share (18) in any second."""
    budget = LocalBudget(Pace(per_second=20, chat_interval_s=0.0, group_interval_s=0.0))
    left: list[tuple[int, float]] = []

    async def sender(number: int) -> None:
        await budget.acquire(f"c{number}")
        left.append((number, time.monotonic()))

    senders = [asyncio.create_task(sender(number)) for number in range(40)]
    await asyncio.sleep(0)  # every sender has taken its slot
    _keep_the_event_loop_busy(1.0)
    await asyncio.gather(*senders)

    assert [number for number, _ in left] == list(range(40)), "in the order of their slots"
    times = [at for _, at in left]
    assert max(sum(1 for other in times if start <= other < start + 1.0) for start in times) <= 18


async def test_due_in_tells_when_a_chat_is_free_without_reserving(budget: SendBudget) -> None:
    assert budget.due_in("c") == 0
    await budget.acquire("c")
    assert 0 < budget.due_in("c") <= PACE.chat_interval_s / 0.9
    assert budget.due_in("other") <= PACE.spacing_s


def _keep_the_event_loop_busy(seconds: float) -> None:
    """What a burst of work does to the senders: nothing else runs meanwhile."""
    time.sleep(seconds)


def test_a_token_key_names_the_token_without_containing_it() -> None:
    secret = "123456:AAE-secret-part"
    key = token_key("telegram", secret)
    assert key == token_key("telegram", secret) != token_key("telegram", secret + "x")
    assert key.startswith("telegram:")
    assert "secret" not in key
    assert "123456" not in key
    assert len(key) <= 64
