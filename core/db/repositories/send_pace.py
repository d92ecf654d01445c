"""A bot token's send budget shared through PostgreSQL (`core.send_budget.SharedBudget`).

Every statement runs on the database's clock and answers in seconds from now, so processes whose
clocks differ still agree on the schedule. The one send itself is the function `send_pace_take`
(migration 0012): it locks the token's row, so sends on one token are decided one at a time.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

HOLD_CHANNEL = "image2bot_send_hold"  # notified with "<key> <seconds held>" when a token is held

_TAKE = text("SELECT wait_s, taken, held_s FROM send_pace_take(:key, :chat, :spacing, :chat_spacing)")

_HOLD = text(
    "WITH held AS ("
    " INSERT INTO send_paces (key, next_free, held_until)"
    " VALUES (:key, clock_timestamp(), clock_timestamp() + make_interval(secs => :seconds))"
    " ON CONFLICT (key) DO UPDATE SET held_until = greatest(send_paces.held_until, excluded.held_until)"
    " RETURNING held_until) "
    "SELECT pg_notify(:channel, :key || ' ' || extract(epoch FROM held_until - clock_timestamp())) FROM held"
)

_PRUNE = text("DELETE FROM send_chat_paces WHERE key = :key AND next_free < clock_timestamp()")


class Take(NamedTuple):
    wait_s: float  # until the slot taken, or until the chat is free when none was
    taken: bool  # False: the chat is not free yet, and nothing was reserved
    held_s: float  # what is left of the token's hold (0: none)


async def take(
    connection: AsyncConnection, key: str, chat: str, spacing_s: float | None, chat_spacing_s: float
) -> Take:
    """One send to `chat` on `key`, if the chat is free: the token's next slot (`spacing_s` None: the
    chat's turn alone, outside the token's queue)."""
    parameters = {"key": key, "chat": chat, "spacing": spacing_s, "chat_spacing": chat_spacing_s}
    row = (await connection.execute(_TAKE, parameters)).one()
    return Take(max(float(row.wait_s), 0.0), bool(row.taken), float(row.held_s))


async def hold(connection: AsyncConnection, key: str, seconds: float) -> None:
    """Nothing is sent on `key` for `seconds` from now (a hold already longer stays); every process
    listening on `HOLD_CHANNEL` hears of it."""
    await connection.execute(_HOLD, {"key": key, "seconds": seconds, "channel": HOLD_CHANNEL})


async def prune(connection: AsyncConnection, key: str) -> None:
    """Forgets the chats of `key` that are free again (a missing row is a free chat)."""
    await connection.execute(_PRUNE, {"key": key})
