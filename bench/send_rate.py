"""11. Send rate: four bot processes on one PostgreSQL and one Telegram token keep Telegram's limits
together, and a 429 holds all four.

Four `image2bot run` processes (role `all`, Telegram in webhook mode against the Bot API double, as
the README asks of several processes on one token) share a fresh PostgreSQL schema. Once all four
have registered their webhook, `CHATS` x `PER_CHAT` replies are queued in the outbox at
once; every process drains it, each claiming some chats, and every message passes the token's send
budget (`core/send_budget.py`, shared through PostgreSQL). After `FLOOD_AFTER` messages the double
answers one sendMessage with 429 and `retry_after`. Every time is the double's monotonic clock.
Figures: the most messages the double received in any one-second window (Telegram allows 30), the
most one chat received in any ten-second window (one a second: at most 10), and how many messages
arrived while the 429's `retry_after` ran (none may).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import Figure, most_within, postgres_schema
from bench.doubles import RemoteDoubles
from bench.webhook_bots import webhook_bots
from core.db import migrate
from core.db.session import Database
from core.messages import ChatRef, text
from core.notifier import enqueue
from tests.harness import postgres_answers

PROCESSES = 4
CHATS = 150
PER_CHAT = 4
FLOOD_AFTER = 200
RETRY_AFTER_S = 2
PER_SECOND_LIMIT = 30
CHAT_LIMIT_PER_10_S = 10
DONE_TIMEOUT_S = 120.0
FIRST_CHAT = 50_000
SKIPPED = "skipped: no PostgreSQL"
MARK = "pace check"


async def run(doubles: RemoteDoubles) -> list[Figure]:
    if not postgres_answers():
        return [Figure(key="send_rate", title=_TITLE, value=SKIPPED)]
    async with postgres_schema() as (url, schema):
        db = Database(url, schema=schema)
        try:
            await migrate.upgrade(db.engine)
            calls = await _four_processes_drain(doubles, db, url, schema)
        finally:
            await db.dispose()
    return _figures(calls)


_TITLE = f"11. Send rate: {PROCESSES} processes, one PostgreSQL, one Telegram token"


async def _four_processes_drain(
    doubles: RemoteDoubles, db: Database, url: str, schema: str
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        async with webhook_bots(doubles, url, schema, PROCESSES, Path(tmp)):
            await doubles.flood_telegram(FLOOD_AFTER, RETRY_AFTER_S)
            async with db.transaction() as session:
                for chat in range(FIRST_CHAT, FIRST_CHAT + CHATS):
                    replies = [text(f"{MARK} {index}") for index in range(PER_CHAT)]
                    where = ChatRef("telegram", "private", str(chat))
                    await enqueue(session, where, replies, key=f"bench:{chat}")
            await doubles.wait_telegram("sendMessage", MARK, CHATS * PER_CHAT + 1, DONE_TIMEOUT_S)
        return [call for call in await doubles.telegram_calls("sendMessage") if MARK in (call["text"] or "")]


def _figures(calls: list[dict[str, Any]]) -> list[Figure]:
    delivered = sorted(call["at"] for call in calls if call["ok"])
    refused = [call["at"] for call in calls if not call["ok"]]
    busiest = most_within(delivered, 1.0)
    by_chat: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call["ok"]:
            by_chat[str(call["chat_id"])].append(call["at"])
    busiest_chat = max(most_within(sorted(times), 10.0) for times in by_chat.values())
    during_hold = sum(1 for at in delivered for start in refused if start < at < start + RETRY_AFTER_S)
    missing = CHATS * PER_CHAT - len(delivered)
    span = delivered[-1] - delivered[0] if len(delivered) > 1 else 0.0
    details = {
        "processes": PROCESSES,
        "messages": len(delivered),
        "missing": missing,
        "refused_429": len(refused),
        "seconds": span,
        "messages_per_second": len(delivered) / span if span else None,
        "most_in_one_second": busiest,
        "most_to_one_chat_in_10_s": busiest_chat,
        "sent_during_retry_after": during_hold,
    }
    return [
        Figure(
            key="send_rate",
            title=_TITLE + ": most messages in any 1 s",
            value=f"{busiest} ({len(delivered)} messages, {missing} missing)",
            target=f"<= {PER_SECOND_LIMIT}, none missing",
            met=busiest <= PER_SECOND_LIMIT and missing == 0,
            details=details,
        ),
        Figure(
            key="send_rate_chat",
            title="    most to one chat in any 10 s",
            value=str(busiest_chat),
            target=f"<= {CHAT_LIMIT_PER_10_S}",
            met=busiest_chat <= CHAT_LIMIT_PER_10_S,
        ),
        Figure(
            key="send_rate_hold",
            title=f"    messages sent during a 429's retry_after ({RETRY_AFTER_S} s)",
            value=f"{during_hold} ({len(refused)} 429 answered)",
            target="0, after one 429",
            met=during_hold == 0 and len(refused) == 1,
        ),
    ]
