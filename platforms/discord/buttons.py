"""Buttons that keep working after a restart: everything a press needs is in its `custom_id`.

Two kinds, both `DynamicItem`s routed by a template rather than by a view kept in memory:
- `i2b:job:<job>:<action>:<image>`: an action on a finished job (reroll, upscale, vary);
- `i2b:cmd:<command>`: a shortcut that sends `<command>` on behalf of whoever pressed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import discord

JOB_TEMPLATE = r"i2b:job:(?P<job>[0-9]{1,18}):(?P<kind>[a-z0-9-]{1,20}):(?P<index>[0-9]{1,3})"
COMMAND_TEMPLATE = r"i2b:cmd:(?P<command>/.{1,91})"
MAX_COMMAND = 92  # a custom_id holds 100 characters
MAX_ROWS = 5  # Discord's limits for one message
MAX_PER_ROW = 5
MAX_LABEL = 80


class ButtonHandler(Protocol):
    async def job_button(
        self, interaction: discord.Interaction, job_id: int, kind: str, index: int
    ) -> None: ...

    async def command_button(self, interaction: discord.Interaction, command: str) -> None: ...


class DoorClient(discord.Client):
    """The discord.py client, with the door that answers its buttons."""

    def __init__(self, handler: ButtonHandler, **options: Any) -> None:
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False  # no voice: nothing to warn of
        super().__init__(
            intents=discord.Intents(guilds=True),  # interactions arrive anyway; discord.py wants guilds
            allowed_mentions=discord.AllowedMentions.none(),  # a prompt saying @everyone pings nobody
            **options,
        )
        self.handler = handler
        self.add_dynamic_items(JobButton, CommandButton)


class ShardedDoorClient(DoorClient, discord.AutoShardedClient):
    """The same client over gateway shards: `shard_ids` of `shard_count` (all of them when None).

    Discord splits a large bot's servers across shards; processes that each connect some of them
    together serve every server, with the same commands and buttons.
    """

    def __init__(
        self, handler: ButtonHandler, *, shard_count: int | None, shard_ids: list[int] | None
    ) -> None:
        super().__init__(handler, shard_count=shard_count, shard_ids=shard_ids)


def _handler(interaction: discord.Interaction) -> ButtonHandler:
    client = interaction.client
    assert isinstance(client, DoorClient)
    return client.handler


def _button(label: str, custom_id: str) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label=label[:MAX_LABEL] or "·", style=discord.ButtonStyle.secondary, custom_id=custom_id
    )


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=JOB_TEMPLATE):
    def __init__(self, job_id: int, kind: str, index: int, label: str) -> None:
        super().__init__(_button(label, f"i2b:job:{job_id}:{kind}:{index}"))
        self.job_id = job_id
        self.kind = kind
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> JobButton:
        label = getattr(item, "label", None) or match["kind"]
        return cls(int(match["job"]), match["kind"], int(match["index"]), label)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).job_button(interaction, self.job_id, self.kind, self.index)


class CommandButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=COMMAND_TEMPLATE):
    def __init__(self, command: str, label: str) -> None:
        super().__init__(_button(label, f"i2b:cmd:{command}"))
        self.command = command

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> CommandButton:
        return cls(match["command"], getattr(item, "label", None) or match["command"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).command_button(interaction, self.command)


class Buttons(discord.ui.View):
    """A view discord.py never keeps: presses are routed by the templates alone.

    discord.py drops a kept view when it times out (an ephemeral one after 15 minutes), and dropping
    a view unregisters the templates of its dynamic items for every message, not just its own. It
    keeps no view that is finished.
    """

    def is_finished(self) -> bool:
        return True


def view(rows: Sequence[Sequence[discord.ui.DynamicItem[Any]]]) -> discord.ui.View | None:
    """Rows of buttons as a view, within Discord's 5 rows of 5; duplicate ids are left out."""
    chunks = [
        list(row[start : start + MAX_PER_ROW]) for row in rows for start in range(0, len(row), MAX_PER_ROW)
    ]
    if not chunks:
        return None
    built = Buttons(timeout=None)
    seen: set[str] = set()
    for number, chunk in enumerate(chunks[:MAX_ROWS]):
        for item in chunk:
            if item.custom_id in seen:
                continue
            seen.add(item.custom_id)
            item.row = number
            built.add_item(item)
    return built
