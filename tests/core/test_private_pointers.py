"""A notice waiting for a private chat that refuses the bot until the user writes there: the group
they asked from gets one pointer without content, in their language, and the notices go once they
write. The real notifier, on SQLite and PostgreSQL, with a door whose platform refuses that chat."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db.repositories import pointers
from core.errors import ChatUnreachable
from core.i18n import translate
from core.messages import ChatRef, Event, Reply, text
from tests.fakes.chat import RecordingChat
from tests.harness import DatabaseTarget, harness_for

PRIVATE = ChatRef("test", "private", "bob")
GROUP = ChatRef("test", "group", "lobby")
OTHER_GROUP = ChatRef("test", "group", "garden")


class NotOpenedChat(RecordingChat):
    """A door whose platform takes nothing in `closed` chats until the user writes there."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: set[str] = set()

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        if chat.chat_id in self.closed:
            raise ChatUnreachable("the user never opened this chat", keep_pending=True)
        await super().send(chat, reply)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_one_pointer_in_the_latest_group_then_the_notices_when_the_user_writes(
    database: DatabaseTarget, tmp_path: Path, language: str
) -> None:
    async with harness_for(database, tmp_path, drain_outbox=False, run_workers=False) as harness:
        door = NotOpenedChat()
        door.closed.add(PRIVATE.chat_id)
        notifier = harness.app.notifier
        notifier.register(door)
        account = await harness.app.core.services.accounts.resolve(harness.user("bob"))
        async with harness.app.db.transaction() as session:
            for group in (OTHER_GROUP, GROUP):  # asked in one group, then in another: the latest counts
                await pointers.remember(
                    session,
                    chat=PRIVATE.serialize(),
                    account_id=account.id,
                    origin=group.serialize(),
                    language=language,
                    name="Bob",
                )
            await notifier.enqueue(session, PRIVATE, [text("Payment received")], key="n1")

        await notifier.drain()
        async with harness.app.db.transaction() as session:
            await notifier.enqueue(session, PRIVATE, [text("Refunded")], key="n2")
        await notifier.drain()
        await notifier.drain()

        [pointer] = door.sent[GROUP.chat_id]
        assert pointer.text == translate(language, "notices.waiting_named", name="Bob")
        assert pointer.event == Event.PRIVATE_WAITING  # the door adds its way to open the chat
        assert door.sent[OTHER_GROUP.chat_id] == []
        assert door.sent[PRIVATE.chat_id] == []

        door.closed.clear()
        await notifier.heard_from(PRIVATE)  # Bob wrote to the bot privately
        await notifier.drain()
        assert [reply.text for reply in door.sent[PRIVATE.chat_id]] == ["Payment received", "Refunded"]
        assert len(door.sent[GROUP.chat_id]) == 1
