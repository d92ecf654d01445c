"""Which chats are shared with other people. Personal data is shown only outside them."""

from __future__ import annotations

from core.messages import ChatRef

# The chat kinds doors use for chats with more than one person: Telegram groups, supergroups and
# channels, Discord server channels, WeCom group chats. A door that adds another such kind lists it here.
GROUP_KINDS = frozenset({"group", "supergroup", "channel", "guild"})


def is_group(chat: ChatRef) -> bool:
    return chat.kind in GROUP_KINDS
