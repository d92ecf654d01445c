"""A chat door for tests: records every reply the core sends, and lets a test wait for them."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from core.messages import ChatRef, Reply
from platforms.base import Capabilities

WAIT_LIMIT_S = 20.0


class RecordingChat:
    name = "test"
    capabilities = Capabilities(edit_messages=True, buttons=True)

    def __init__(self, name: str = "test") -> None:
        self.name = name
        self.sent: defaultdict[str, list[Reply]] = defaultdict(list)
        self.fail_next = 0  # how many upcoming sends raise, to exercise the notifier's retries
        self.stalled = False  # sends hang, as on a platform that stopped answering
        self.sending = asyncio.Event()  # set once a send has begun
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        return None

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        self.sending.set()
        if self.stalled:
            await asyncio.Event().wait()
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("the chat platform is unreachable")
        async with self._changed:
            self.sent[chat.chat_id].append(reply)
            self._changed.notify_all()

    def for_job(self, job_id: int) -> list[Reply]:
        return [reply for replies in self.sent.values() for reply in replies if reply.job == job_id]

    async def wait_final(self, job_id: int) -> Reply:
        """The job's last reply (its result, failure or cancellation) once it has been delivered."""

        def final() -> Reply | None:
            return next((reply for reply in self.for_job(job_id) if reply.final), None)

        async with asyncio.timeout(WAIT_LIMIT_S), self._changed:
            await self._changed.wait_for(lambda: final() is not None)
        result = final()
        assert result is not None
        return result
