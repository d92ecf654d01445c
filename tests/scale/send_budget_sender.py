"""One process of `test_send_budget_processes`: senders on the shared budget, started on a word.

`python -m tests.scale.send_budget_sender <database url> <schema> <token key> <seed>` prints `ready`,
waits for a line on its input, sends, then prints what it sent and how late its event loop ran, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from core.db.session import Database
from core.send_budget import send_budget
from tests.core.send_schedule import PACE, LoopLateness, Sent, send

CHATS = [f"c{n}" for n in range(600)]  # every process picks from the same chats
GROUPS = ["g0", "g1", "g2"]
SENDERS = 20
PER_SENDER = 6
PER_GROUP_SENDER = 2


async def main(url: str, schema: str, key: str, seed: int) -> None:
    db = Database(url, schema=schema)
    budget = send_budget(db, key, PACE)
    sent: list[Sent] = []

    async def sender(rng: random.Random, chats: list[str], count: int) -> None:
        for _ in range(count):
            await send(budget, rng.choice(chats), sent)

    try:
        await budget.acquire("warm-up")  # the connection is open before the start
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        async with LoopLateness() as lateness, asyncio.TaskGroup() as senders:
            for number in range(SENDERS):
                senders.create_task(sender(random.Random(seed * 100 + number), CHATS, PER_SENDER))
            senders.create_task(sender(random.Random(seed), GROUPS, PER_GROUP_SENDER))
    finally:
        await budget.close()
        await db.dispose()
    print(json.dumps({"sent": sent, "lateness_s": lateness.worst_s}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
