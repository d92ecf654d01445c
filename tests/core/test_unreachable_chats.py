"""Chats the platform refuses for good (the user blocked the bot): given up, then back when they write.

A door raises `ChatUnreachable` for such a chat. The tests drive the real core and notifier with a
door whose platform refuses the chats in `blocked`, and read what it was asked to send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.db.models import Delivery
from core.errors import ChatUnreachable
from core.messages import ActionKind, ChatRef, Reply, ReplyType, Stage, text
from tests.fakes.chat import RecordingChat
from tests.fakes.gated_provider import GatedProvider
from tests.harness import DatabaseTarget, Harness, harness_for

LIMIT_S = 10  # a regression fails the test instead of hanging it
ALICE = ChatRef("test", "private", "alice")


class BlockingChat(RecordingChat):
    """A door whose platform refuses the chats in `blocked`; `attempts` is everything it was asked to
    send, delivered or not, in order, as (chat id, reply)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: set[str] = set()
        self.attempts: list[tuple[str, Reply]] = []

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        self.attempts.append((chat.chat_id, reply))
        if chat.chat_id in self.blocked:
            raise ChatUnreachable(f"the user blocked the bot in {chat.chat_id}")
        await super().send(chat, reply)

    def attempted(self, chat_id: str, since: int = 0) -> list[Reply]:
        return [reply for to, reply in self.attempts[since:] if to == chat_id]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(LIMIT_S), self._changed:
            await self._changed.wait_for(condition)


@asynccontextmanager
async def blocking_door(
    database: DatabaseTarget, data_dir: Path, **options: Any
) -> AsyncIterator[tuple[Harness, BlockingChat]]:
    """The real core with a BlockingChat as its door; the test drains the outbox itself."""
    async with harness_for(database, data_dir, drain_outbox=False, **options) as running:
        door = BlockingChat()
        running.app.notifier.register(door)  # replaces the plain recording chat of the same name
        yield Harness(running.app, door), door


async def statuses(harness: Harness, key_prefix: str) -> list[str]:
    """The outbox statuses of the replies queued under `key_prefix`, in queued order."""
    async with harness.app.db.transaction() as session:
        rows = await session.scalars(
            select(Delivery.status).where(Delivery.key.startswith(key_prefix)).order_by(Delivery.id)
        )
        return list(rows)


async def drain_until_finished(harness: Harness, job_id: int) -> None:
    """Delivers what is due, as the background drain would, until the job has an outcome."""
    async with asyncio.timeout(LIMIT_S):
        while (await harness.job(job_id)).status in ("queued", "running"):
            await harness.app.notifier.drain()
    await harness.app.notifier.drain()


async def queue(harness: Harness, chat: ChatRef, message: str, key: str) -> None:
    """A durable reply that reaches the chat without its user writing (a payment, a grant)."""
    async with harness.app.db.transaction() as session:
        await harness.app.notifier.enqueue(session, chat, [text(message)], key=key)


async def test_a_result_for_a_chat_that_blocked_the_bot_is_given_up_until_the_user_writes_again(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    async with blocking_door(database, tmp_path, provider=provider) as (harness, door):
        job = await harness.imagine("a lantern")
        await door.wait_until(lambda: any(r.stage == Stage.PARTIAL for r in door.for_job(job)))
        door.blocked.add("alice")  # the user blocks the bot while the image is drawn
        mark = len(door.attempts)
        provider.release("a lantern")
        await drain_until_finished(harness, job)

        # one attempt at the image; the platform refused it for good, so the rest is given up
        assert [reply.type for reply in door.attempted("alice", mark)] == [ReplyType.IMAGE]
        assert await statuses(harness, f"job:{job}:") == ["given_up", "given_up"]
        assert not [reply for reply in door.for_job(job) if reply.type == ReplyType.IMAGE]
        assert (await harness.job(job)).status == "succeeded"
        assert (await harness.balance()).total == 30  # drawn, so paid for: settled, not refunded
        await harness.assert_ledger_consistent()

        # later replies are not even attempted: best effort is dropped, durable ones are given up
        mark = len(door.attempts)
        assert not await harness.app.notifier.send(ALICE, [text("a tip")])
        await queue(harness, ALICE, "10 credits granted", key="grant:1")
        await harness.app.notifier.drain()
        assert door.attempted("alice", mark) == []
        assert await statuses(harness, "grant:1:") == ["given_up"]

        # the user unblocks the bot and writes: what comes next is delivered
        door.blocked.discard("alice")
        assert (await harness.say("/balance"))[0].private
        assert await harness.app.notifier.send(ALICE, [text("a tip")])
        await queue(harness, ALICE, "10 more credits granted", key="grant:2")
        await harness.app.notifier.drain()
        assert [reply.text for reply in door.sent["alice"][-2:]] == ["a tip", "10 more credits granted"]
        assert await statuses(harness, "grant:2:") == ["sent"]

        provider.release("another lantern")
        second = await harness.imagine("another lantern")
        await drain_until_finished(harness, second)
        assert [(reply.type, reply.stage) for reply in door.for_job(second)] == [
            (ReplyType.PROGRESS, Stage.STARTED),
            (ReplyType.PROGRESS, Stage.PARTIAL),
            (ReplyType.IMAGE, None),
            (ReplyType.ACTIONS, None),
        ]
        assert door.for_job(second)[-1].final
        # what was given up stays given up: the first image is not sent late
        assert await statuses(harness, f"job:{job}:") == ["given_up", "given_up"]
        assert not [reply for reply in door.for_job(job) if reply.type == ReplyType.IMAGE]
        assert (await harness.balance()).total == 20
        await harness.assert_ledger_consistent()


async def test_a_chat_blocked_before_its_job_starts_is_tried_once_and_other_chats_are_unaffected(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with blocking_door(database, tmp_path) as (harness, door):
        door.blocked.add("alice")
        alices = await harness.imagine("a lantern")
        bobs = await harness.imagine("a kite", "bob")
        await drain_until_finished(harness, alices)
        await drain_until_finished(harness, bobs)

        # the "started" notice was refused for good: not retried, no previews, no result attempted
        assert [(reply.job, reply.stage) for reply in door.attempted("alice")] == [(alices, Stage.STARTED)]
        assert await statuses(harness, f"job:{alices}:") == ["given_up", "given_up"]
        assert (await harness.job(alices)).status == "succeeded"
        assert (await harness.balance("alice")).total == 30

        assert [reply.type for reply in door.for_job(bobs)][-2:] == [ReplyType.IMAGE, ReplyType.ACTIONS]
        assert await statuses(harness, f"job:{bobs}:") == ["sent", "sent"]
        assert (await harness.balance("bob")).total == 30
        await harness.assert_ledger_consistent()


async def test_an_unreachable_chat_is_remembered_across_a_restart_until_a_button_is_pressed_there(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with blocking_door(database, tmp_path, run_workers=False) as (before, door):
        await before.say("/start")
        door.blocked.add("alice")
        await queue(before, ALICE, "your payment arrived", key="payment:1")
        await before.app.notifier.drain()
        assert [reply.text for reply in door.attempted("alice")] == ["your payment arrived"]
        assert await statuses(before, "payment:1:") == ["given_up"]

    # a new process; the platform would deliver again, but nobody has written from the chat yet
    async with blocking_door(database, tmp_path, run_workers=False) as (after, door):
        assert not await after.app.notifier.send(ALICE, [text("a tip")])
        await queue(after, ALICE, "your refund arrived", key="refund:1")
        await after.app.notifier.drain()
        assert door.attempts == []
        assert await statuses(after, "refund:1:") == ["given_up"]

        [refused] = await after.press(999, ActionKind.REROLL)  # an old button, pressed in that chat
        assert refused.error
        assert await after.app.notifier.send(ALICE, [text("a tip")])
        assert [reply.text for reply in door.sent["alice"]] == ["a tip"]

    # and that it is reachable again is remembered too
    async with blocking_door(database, tmp_path, run_workers=False) as (later, door):
        await queue(later, ALICE, "your subscription renewed", key="renewal:1")
        await later.app.notifier.drain()
        assert [reply.text for reply in door.sent["alice"]] == ["your subscription renewed"]
        assert await statuses(later, "renewal:1:") == ["sent"]
        await later.assert_ledger_consistent()


USERS_WHO_BLOCK_THE_BOT = ("ann", "ben", "cai", "dan", "eve", "fay")


class RefusedTogetherChat(BlockingChat):
    """Holds each send until `together` sends are in flight, then refuses them all for good: the
    platform answering several replies to a chat that was just blocked."""

    def __init__(self, together: int) -> None:
        super().__init__()
        self._all_in_flight = asyncio.Barrier(together)

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        self.attempts.append((chat.chat_id, reply))
        await self._all_in_flight.wait()
        raise ChatUnreachable(f"the user blocked the bot in {chat.chat_id}")


async def test_replies_refused_at_the_same_moment_are_all_given_up_quietly(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    """Two progress notices and an outbox reply refused together record the chat once; none of them
    fails (on PostgreSQL, recording it by reading then inserting let the slower one raise)."""
    async with blocking_door(database, tmp_path, run_workers=False) as (harness, _):
        door = RefusedTogetherChat(together=3)
        harness.app.notifier.register(door)
        notifier = harness.app.notifier
        for user in USERS_WHO_BLOCK_THE_BOT:  # several chats: each is one chance for the refusals to collide
            chat = ChatRef("test", "private", user)
            await queue(harness, chat, "your payment arrived", key=f"payment:{user}")
            outcomes = await asyncio.gather(
                notifier.send(chat, [text("Job #1: drawing…")]),
                notifier.send(chat, [text("Job #2: drawing…")]),
                notifier.drain(),
                return_exceptions=True,
            )
            assert outcomes == [False, False, 0], user
            assert len(door.attempted(user)) == 3
            assert await statuses(harness, f"payment:{user}:") == ["given_up"]
            assert not await notifier.send(chat, [text("a tip")])
            assert len(door.attempted(user)) == 3
