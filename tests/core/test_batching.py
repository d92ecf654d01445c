"""Group commit: what each caller gets back, whatever batch its call landed in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from core.batching import Batcher


class Doubling:
    """A batch runner that doubles each number, refuses negative ones, and remembers its batches.
    While `gate` is closed a batch waits in the middle of running."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, batch: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        if any(item == 13 for item in batch):
            raise RuntimeError("the whole batch failed")
        return [ValueError(item) if item < 0 else item * 2 for item in batch]


async def test_calls_made_while_a_batch_runs_go_together_in_the_next_one() -> None:
    run = Doubling()
    batcher: Batcher[int, int] = Batcher(run, max_size=100)
    run.gate.clear()
    first = asyncio.ensure_future(batcher(0))
    await _until(lambda: run.batches)
    later = [asyncio.ensure_future(batcher(n)) for n in range(1, 8)]
    run.gate.set()

    assert await asyncio.gather(first, *later) == [n * 2 for n in range(8)]
    assert run.batches == [[0], list(range(1, 8))]


async def test_a_batch_holds_at_most_max_size_items() -> None:
    run = Doubling()
    batcher: Batcher[int, int] = Batcher(run, max_size=3)

    assert await asyncio.gather(*(batcher(n) for n in range(8))) == [n * 2 for n in range(8)]
    assert run.batches == [[0, 1, 2], [3, 4, 5], [6, 7]]


async def test_one_call_after_another_each_gets_its_answer() -> None:
    run = Doubling()
    batcher: Batcher[int, int] = Batcher(run, max_size=10)

    async with asyncio.timeout(5):  # a call that found no batch running to join would wait forever
        assert [await batcher(n) for n in range(20, 40)] == [n * 2 for n in range(20, 40)]


async def test_an_item_refused_alone_fails_only_its_own_caller() -> None:
    batcher: Batcher[int, int] = Batcher(Doubling(), max_size=10)

    outcomes = await asyncio.gather(batcher(1), batcher(-1), batcher(2), return_exceptions=True)

    assert outcomes[0] == 2
    assert outcomes[2] == 4
    assert isinstance(outcomes[1], ValueError)


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    batcher: Batcher[int, int] = Batcher(Doubling(), max_size=10)

    outcomes = await asyncio.gather(batcher(1), batcher(13), return_exceptions=True)

    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert await batcher(5) == 10


async def test_a_caller_that_stops_waiting_leaves_its_item_out() -> None:
    run = Doubling()
    batcher: Batcher[int, int] = Batcher(run, max_size=10)
    run.gate.clear()
    first = asyncio.ensure_future(batcher(0))
    await _until(lambda: run.batches)
    given_up = asyncio.ensure_future(batcher(1))
    kept = asyncio.ensure_future(batcher(2))
    await asyncio.sleep(0)
    given_up.cancel()
    run.gate.set()

    assert await asyncio.gather(first, kept) == [0, 4]
    assert run.batches == [[0], [2]]


async def test_at_most_concurrency_batches_run_at_once() -> None:
    run = Doubling()
    batcher: Batcher[int, int] = Batcher(run, max_size=1, concurrency=3)
    run.gate.clear()
    calls = [asyncio.ensure_future(batcher(n)) for n in range(10)]
    await _until(lambda: run.running == 3)
    run.gate.set()

    assert await asyncio.gather(*calls) == [n * 2 for n in range(10)]
    assert run.most_at_once == 3


def test_a_batcher_needs_room_for_one_item_and_one_batch() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Batcher(Doubling(), max_size=0)
    with pytest.raises(ValueError, match="at least one"):
        Batcher(Doubling(), max_size=1, concurrency=0)


async def _until(condition: Callable[[], object]) -> None:
    """Lets the event loop step until `condition` holds (the batcher's tasks move one step a turn)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 (state of tasks on this loop, stepped turn by turn)
            await asyncio.sleep(0)
