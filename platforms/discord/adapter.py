"""The Discord door: slash commands and buttons in, through discord.py's gateway client.

Chats are `discord:guild:<channel id>` and `discord:dm:<DM channel id>`: the channel is where a job's
result is posted when no interaction can carry it any more (after 15 minutes, after a restart).
`discord:user:<user id>` is a person's DM, however they asked: notices about their own affairs
(payments, support answers) go there, never to a guild channel.
People are `discord:<user id>`; in a guild, whoever ran the command pays.

Discord wants an answer to an interaction within 3 seconds, and a burst of them must all have it:
every interaction is deferred before the core touches the database ("thinking", or for a press on
one of our messages an acknowledgement that shows nothing yet), then the core's replies replace the
deferral; the core's work does not hold up a burst's acknowledgements (`turns`). Who sees the
answer is decided before the core runs, from the command (`commands.PUBLIC`); a refusal, or an
answer only the asker may see, after a deferral everyone saw replaces it with one to the asker. A
job's first answer is the deferral edited into its queue position, so the interaction's token then
carries the job's progress and result (see `delivery`); the token stays valid for 15 minutes.

With `shard_count` the gateway is split into shards and this door connects only `shard_ids` (all of
them when unset); other processes connect the rest. Without it: one connection, not sharded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import discord
import yarl
from discord.gateway import DiscordWebSocket

from core.commands.parser import Command
from core.commands.router import Core
from core.errors import UserError
from core.messages import (
    ActionKind,
    ActionPress,
    Attachment,
    ChatRef,
    Incoming,
    Reply,
    Stage,
    UserRef,
    declared,
)
from platforms.base import Capabilities
from platforms.discord import commands, render
from platforms.discord.buttons import DoorClient, ShardedDoorClient
from platforms.discord.delivery import (
    DEFAULT_UPLOAD_LIMIT,
    DM,
    GUILD,
    USER,
    Delivery,
    edit_original,
    send_followup,
)
from platforms.discord.turns import CORE_SLOTS, Turns

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://discord.com/api/v10"
PROGRESS_INTERVAL_S = 3.0
EPHEMERAL = "image2bot.ephemeral"  # in Interaction.extras: whether our deferral was ephemeral


class DiscordAdapter:
    name = "discord"
    capabilities = Capabilities(
        edit_messages=True,
        buttons=True,
        max_upload_bytes=DEFAULT_UPLOAD_LIMIT,
        max_text_chars=render.MAX_CONTENT,
    )

    def __init__(
        self,
        core: Core,
        *,
        token: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        guild_ids: Sequence[int] = (),
        sync_commands: bool = True,
        progress_interval_s: float = PROGRESS_INTERVAL_S,
        core_slots: int = CORE_SLOTS,
        shard_count: int | None = None,
        shard_ids: Sequence[int] | None = None,
    ) -> None:
        self._core = core
        self._token = token
        self._api_base_url = api_base_url.rstrip("/")
        self._guild_ids = tuple(guild_ids)
        self._sync_commands = sync_commands
        self._turns = Turns(core_slots)
        self.client = (
            DoorClient(self)
            if shard_count is None and shard_ids is None
            else ShardedDoorClient(
                self, shard_count=shard_count, shard_ids=None if shard_ids is None else list(shard_ids)
            )
        )
        self.tree = commands.build_tree(
            self.client,
            self,
            styles=core.styles(),
            models=core.models(),
            guild_ids=self._guild_ids,
        )
        self._delivery = Delivery(self.client, core.media, progress_interval_s=progress_interval_s)

    async def login(self) -> None:
        """Logs in over REST at `api_base_url` and publishes the commands when configured to."""
        discord.http.Route.BASE = self._api_base_url  # one Discord client per process
        await self.client.login(self._token)
        await self.tree.set_translator(commands.Translations())
        if self._sync_commands:
            await self._publish_commands()

    async def start(self) -> None:
        """Serves until `stop()`: the gateway address comes from the same API (`GET /gateway/bot`).

        The sharded client connects each of its shards to that address (it asks for no shard count).
        """
        await self.login()
        _shards, url, _limits = await self.client.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)  # also where discord.py reconnects to
        await self.client.connect(reconnect=True)

    @property
    def connected(self) -> bool:
        """Once the gateway is ready (every shard of this process), until the connection is lost."""
        return self.client.is_ready() and not self.client.is_closed()

    async def stop(self) -> None:
        self._delivery.close()
        await self.client.close()

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        if reply.job is not None:
            await self._delivery.deliver(chat, reply)
        else:
            await self._delivery.post(chat, render.message(reply))

    async def _publish_commands(self) -> None:
        if not self._guild_ids:
            synced = await self.tree.sync()
            log.info("discord: %d global commands published", len(synced))
            return
        for guild_id in self._guild_ids:
            synced = await self.tree.sync(guild=discord.Object(id=guild_id))
            log.info("discord: %d commands published to a guild", len(synced))

    # -- what users do: acknowledged first, then the core runs -------------------------------------

    async def run_command(
        self,
        interaction: discord.Interaction,
        command: Command | str,
        attachments: Sequence[discord.Attachment] = (),
        *,
        public: bool = False,
    ) -> None:
        """`command`: the text of a plain command, or a command built from typed options."""
        if not await self._acknowledge(interaction, ephemeral=not public):
            return
        references = tuple(_attachment(attachment) for attachment in attachments)
        user, chat, message_id = _user(interaction), _chat(interaction), str(interaction.id)
        typed = command if isinstance(command, Command) else None  # built from options: no text to parse
        incoming = Incoming(
            user,
            chat,
            command if isinstance(command, str) else "",
            references,
            message_id,
            command=typed,
            private_chat=_private_chat(interaction),
            group_admin=_group_admin(interaction),
        )
        async with self._turns.core():
            replies = await self._core.dispatch(incoming)
        await self._answer(interaction, replies)

    async def job_button(self, interaction: discord.Interaction, job_id: int, kind: str, index: int) -> None:
        """An action under a result: a new job, whose queue position everyone sees."""
        if not await self._acknowledge(interaction, ephemeral=False):
            return
        user, chat = _user(interaction), _chat(interaction)
        async with self._turns.core():
            try:
                action = ActionKind(kind)
            except ValueError:  # an action this version no longer offers
                replies = await self._core.refuse(user, chat, UserError("button_expired"))
            else:
                replies = await self._core.on_action(ActionPress(user, chat, job_id, action, index))
        await self._answer(interaction, replies)

    async def command_button(self, interaction: discord.Interaction, command: str) -> None:
        """A shortcut pressed: answered to the presser alone, or in place on their own menu."""
        if not await self._acknowledge(interaction, in_place=True):
            return
        incoming = Incoming(
            _user(interaction),
            _chat(interaction),
            command,
            (),
            str(interaction.id),
            private_chat=_private_chat(interaction),
            group_admin=_group_admin(interaction),
        )
        async with self._turns.core():
            answered = await self._core.dispatch(incoming)
        replies = [replace(reply, private=True) for reply in answered]
        if not replies or not _updates_in_place(interaction, replies[0]):
            await self._answer(interaction, replies)
            return
        first = replies[0]
        await edit_original(interaction, render.message(first), self._core.media, keep_attachments=False)
        if first.job is not None and first.final:
            await self._delivery.finish(first.job, shown=True)
        await self._follow_up(interaction, replies[1:])

    # -- answering an interaction -------------------------------------------------------------------

    async def _acknowledge(
        self, interaction: discord.Interaction, *, ephemeral: bool = False, in_place: bool = False
    ) -> bool:
        """Defers at once: "thinking" (seen by the asker alone when `ephemeral`), or for a press that
        may change its own message, nothing shown yet. False when Discord did not take it: the
        user was told the interaction failed, so nothing is done for it."""
        try:
            await self._turns.acknowledge(
                lambda: interaction.response.defer(thinking=not in_place, ephemeral=ephemeral)
            )
        except (discord.HTTPException, TimeoutError) as exc:
            log.warning("discord: an interaction could not be acknowledged (%s)", type(exc).__name__)
            return False
        interaction.extras[EPHEMERAL] = ephemeral
        return True

    async def _answer(self, interaction: discord.Interaction, replies: list[Reply]) -> None:
        if replies:
            await self._first_answer(interaction, replies[0])
            await self._after_answer(replies[0])
            await self._follow_up(interaction, replies[1:])
        elif interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
            await interaction.delete_original_response()  # no "thinking" left with nothing to come

    async def _follow_up(self, interaction: discord.Interaction, replies: list[Reply]) -> None:
        for reply in replies:
            await send_followup(interaction, render.message(reply), self._core.media)
            await self._after_answer(reply)

    async def _first_answer(self, interaction: discord.Interaction, reply: Reply) -> None:
        """Replaces the deferral. A press's own message stays as it was: the answer follows it (a job
        started so reports to the channel, as no answer of this interaction can be edited)."""
        message = render.message(reply)
        if interaction.response.type == discord.InteractionResponseType.deferred_message_update:
            await send_followup(interaction, message, self._core.media)
        elif reply.job is not None and reply.stage == Stage.QUEUED:
            await self._start_thread(interaction, reply.job, message)
        elif message.ephemeral and not interaction.extras.get(EPHEMERAL):
            await interaction.delete_original_response()  # everyone saw "thinking"; only the asker sees this
            await send_followup(interaction, message, self._core.media)
        else:
            await edit_original(interaction, message, self._core.media)

    async def _start_thread(
        self, interaction: discord.Interaction, job_id: int, queued: render.Message
    ) -> None:
        """Shows the queue position in the deferred answer; the job's progress then edits it."""
        thread = self._delivery.open(job_id, interaction)
        try:
            await edit_original(interaction, queued, self._core.media)
        except discord.HTTPException:
            thread.usable = False  # the result goes to the channel instead
            raise
        finally:
            thread.last_edit = time.monotonic()
            thread.ready.set()

    async def _after_answer(self, reply: Reply) -> None:
        if reply.job is not None and reply.final:
            await self._delivery.finish(reply.job)


def _updates_in_place(interaction: discord.Interaction, reply: Reply) -> bool:
    """A press on the presser's own menu refreshes it; a Cancel press turns the progress into its end."""
    metadata = interaction.message.interaction_metadata if interaction.message else None
    own = metadata is not None and metadata.user.id == interaction.user.id
    changes_it = bool(reply.choices) or (reply.job is not None and reply.final)
    return own and changes_it and not reply.error


def _user(interaction: discord.Interaction) -> UserRef:
    user = interaction.user
    return UserRef("discord", str(user.id), display_name=user.display_name, locale=interaction.locale.value)


def _chat(interaction: discord.Interaction) -> ChatRef:
    return ChatRef("discord", GUILD if interaction.guild_id else DM, str(interaction.channel_id))


def _group_admin(interaction: discord.Interaction) -> Callable[[], Awaitable[bool]] | None:
    """In a server: whether the member may manage it (Discord's Manage Server), from the permissions
    the interaction came with; None in a DM."""
    if interaction.guild_id is None:
        return None
    return declared(interaction.permissions.manage_guild)


def _private_chat(interaction: discord.Interaction) -> ChatRef:
    return ChatRef("discord", USER, str(interaction.user.id))


def _attachment(attachment: discord.Attachment) -> Attachment:
    return Attachment(name=attachment.filename, fetch=attachment.read, size=attachment.size)
