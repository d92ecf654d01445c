"""Which chats are shared with other people. Personal data is shown only outside them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.repositories import pointers
from core.db.repositories import privacy as privacy_repo
from core.messages import ChatRef

# The chat kinds doors use for chats with more than one person: Telegram groups, supergroups and
# channels, Discord server channels, WeCom group chats. A door that adds another such kind lists it here.
GROUP_KINDS = frozenset({"group", "supergroup", "channel", "guild"})


def is_group(chat: ChatRef) -> bool:
    return chat.kind in GROUP_KINDS


def notices_chat(chat: ChatRef, private_chat: ChatRef | None) -> ChatRef:
    """Where notices about a person's own affairs go (payments, refunds, disputes, support answers):
    their private chat when they asked in a group and the door knows one, else the chat they asked in."""
    if private_chat is not None and is_group(chat):
        return private_chat
    return chat


@dataclass(frozen=True, slots=True)
class NoticePointer:
    """A person asked in `group` for something whose notices go to `private` (a payment, a ticket).
    Should that private chat refuse the bot until they write there (they never opened it), the group is
    told, without any content, in their `language`, that a private message waits for `name`."""

    private: ChatRef
    group: ChatRef
    account_id: int
    language: str
    name: str | None = None


async def remember_pointer(session: AsyncSession, pointer: NoticePointer | None) -> None:
    """In the request's transaction: the group to point to, should `pointer.private` refuse the bot."""
    if pointer is None:
        return
    await pointers.remember(
        session,
        chat=pointer.private.serialize(),
        account_id=pointer.account_id,
        origin=pointer.group.serialize(),
        language=pointer.language,
        name=pointer.name,
    )


async def private_target(session: AsyncSession, account_id: int, chat: ChatRef) -> ChatRef | None:
    """Where a notice recorded for `chat` may go: `chat` itself unless it is a group (recorded before
    notices went privately), then the account's private chat when known, else nowhere: a notice
    about someone's money or ticket is never posted where others read."""
    if not is_group(chat):
        return chat
    profile = await privacy_repo.profile(session, account_id)
    return ChatRef.parse(profile.direct_chat) if profile is not None and profile.direct_chat else None
