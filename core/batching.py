"""Group commit: the calls that arrive while a batch runs are run together as a later one.

A burst of requests then costs one round trip (to the database, to a provider) per batch instead of
one per request, and a lone request still goes at once: nothing waits for a batch to fill up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

RunBatch = Callable[[Sequence[Item]], Awaitable[Sequence[Outcome | BaseException]]]


class Batcher(Generic[Item, Outcome]):
    """Runs `run` on batches of at most `max_size` items, at most `concurrency` batches at a time.
    `run` returns one outcome per item, in order: a value, or an exception for that item alone; when
    `run` itself raises, every item of the batch gets that error."""

    def __init__(self, run: RunBatch[Item, Outcome], *, max_size: int, concurrency: int = 1) -> None:
        if max_size < 1 or concurrency < 1:
            raise ValueError("a batch holds at least one item, and at least one batch runs")
        self._run = run
        self._max_size = max_size
        self._concurrency = concurrency
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._drains: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._drains = {drain for drain in self._drains if not drain.done()}  # a task is done once it returns
        if len(self._drains) < self._concurrency:
            self._drains.add(asyncio.create_task(self._drain()))
        return await future

    async def _drain(self) -> None:
        """Runs batches while items wait; each item's caller gets its outcome."""
        while self._waiting:
            batch = [entry for entry in self._waiting[: self._max_size] if not entry[1].done()]
            del self._waiting[: self._max_size]
            if not batch:
                continue
            try:
                outcomes: Sequence[Outcome | BaseException] = await self._run([item for item, _ in batch])
            except asyncio.CancelledError:
                _fail([*batch, *self._waiting], RuntimeError("stopped before the request ran"))
                self._waiting.clear()
                raise
            except Exception as exc:
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its caller gave up waiting
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


def _fail(waiting: list[tuple[Item, asyncio.Future[Outcome]]], error: Exception) -> None:
    for _, future in waiting:
        if not future.done():
            future.set_exception(error)
