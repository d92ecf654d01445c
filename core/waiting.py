"""Sleeping in background loops until woken or a time passes."""

from __future__ import annotations

import asyncio


async def until_woken(wake: asyncio.Event, seconds: float) -> None:
    """Returns when `wake` is set or after `seconds`, whichever comes first.

    Built on `asyncio.wait` rather than `asyncio.timeout`: when a deadline and a cancellation arrive
    together, a cancelled loop must stop, never carry on as if the deadline had simply passed.
    """
    if wake.is_set() or seconds <= 0:
        await asyncio.sleep(0)
        return
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()


def stop_if_cancelled() -> None:
    """For a background loop that has just caught an error: stops it when its task was cancelled.

    A cleanup that fails on the way out (a `finally` whose bookkeeping cannot reach the database)
    replaces the CancelledError with its own error. A loop that logged that error and went round again
    would never stop; `Task.cancelling()` still remembers the request.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
