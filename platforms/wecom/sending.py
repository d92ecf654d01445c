"""Everything the app posts to WeCom members (`message/send`) and to its group chats (`appchat/send`).

Images and files are uploaded as temporary media first. At most 30 messages a minute go to one chat
(WeCom silently drops what an app sends a member beyond that); more wait for a free slot. A result's
actions are listed under its image when it has one image, so the job's list of actions that follows
is then not sent again.

One reply can take several messages (a result: its image, then its caption). WeCom takes no
idempotency key, so when a later one fails and the outbox tries the reply again, the messages that
already went out are not sent twice (see `PartlySent`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.errors import ChatUnreachable
from core.messages import ChatRef, MediaReader, Reply, ReplyType, Stage
from platforms.wecom import media, render
from platforms.wecom.client import WeComApi, WeComError
from platforms.wecom.limits import SlidingWindow
from platforms.wecom.render import FilePart, ImagePart, Part, TextPart

GONE = frozenset(
    {
        60111,  # no such member
        81013,  # every recipient invalid or outside the app's visibility
        86003,  # no such group chat
    }
)


Deliver = Callable[[ChatRef, dict[str, Any]], Awaitable[None]]


class ActionsShown:
    """The results whose actions were listed under their image, so their list is not sent twice."""

    def __init__(self) -> None:
        self._shown: set[tuple[str, int]] = set()

    def skip(self, chat: ChatRef, reply: Reply) -> bool:
        return reply.type == ReplyType.ACTIONS and (chat.serialize(), reply.job or 0) in self._shown

    def sent(self, chat: ChatRef, reply: Reply) -> None:
        key = (chat.serialize(), reply.job or 0)
        if reply.job is not None and reply.type == ReplyType.IMAGE and reply.buttons:
            self._shown.add(key)
        elif reply.type == ReplyType.ACTIONS:
            self._shown.discard(key)


class PartlySent:
    """Job replies that failed part-way, and how many of their messages went out, so that the next try
    sends only the rest. In memory, for the latest few: after a restart a retry starts over."""

    def __init__(self, limit: int = 256) -> None:
        self._sent: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    @staticmethod
    def key(chat: ChatRef, reply: Reply) -> str:
        content = json.dumps([chat.serialize(), reply.to_json()], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(content.encode()).hexdigest()

    def count(self, key: str) -> int:
        return self._sent.get(key, 0)

    def record(self, key: str, count: int) -> None:
        self._sent[key] = count
        self._sent.move_to_end(key)
        while len(self._sent) > self._limit:
            self._sent.popitem(last=False)

    def forget(self, key: str) -> None:
        self._sent.pop(key, None)


@dataclass(frozen=True, slots=True)
class _Media:
    """A message whose media is uploaded only when it is about to be sent."""

    kind: str  # "image" or "file"
    upload: media.Upload


Outgoing = dict[str, Any] | _Media


async def send_reply(
    api: WeComApi,
    chat: ChatRef,
    reply: Reply,
    read: MediaReader,
    *,
    stages: frozenset[Stage],
    actions: ActionsShown,
    deliver: Deliver,
    partly_sent: PartlySent | None = None,
) -> None:
    """Renders `reply`, uploads its media and hands each message to `deliver`, in order. With
    `partly_sent`, a job's reply that failed part-way before resumes after what went out."""
    resume = partly_sent if reply.job is not None else None
    key = PartlySent.key(chat, reply) if resume is not None else ""
    done = resume.count(key) if resume is not None else 0
    position = 0
    for part in render.parts(reply, stages=stages, actions_shown=actions.skip(chat, reply)):
        for outgoing in await _outgoing(part, read):
            if position >= done:
                await deliver(chat, await _message(api, outgoing))
                if resume is not None:
                    resume.record(key, position + 1)
            position += 1
    if resume is not None:
        resume.forget(key)
    actions.sent(chat, reply)


async def _outgoing(part: Part, read: MediaReader) -> list[Outgoing]:
    """The messages for one part, their media prepared but not uploaded yet."""
    if isinstance(part, TextPart):
        return [render.text_message(part.content)]
    if isinstance(part, ImagePart):
        uploads = await asyncio.to_thread(media.image_uploads, await read(part.media), part.media)
        original = [_Media("file", uploads.original)] if uploads.original is not None else []
        return [_Media("image", uploads.image), *original]
    return [await _file(part, read)]


async def _file(part: FilePart, read: MediaReader) -> _Media:
    data = await read(part.media)
    if len(data) <= media.FILE_MAX_BYTES:
        return _Media("file", media.file_upload(part.media, data))
    uploads = await asyncio.to_thread(
        media.image_uploads, data, part.media
    )  # too big for a file: the best image
    return _Media("image", uploads.image)


async def _message(api: WeComApi, outgoing: Outgoing) -> dict[str, Any]:
    """The message body, its media uploaded now."""
    if not isinstance(outgoing, _Media):
        return outgoing
    upload = outgoing.upload
    media_id = await api.upload(outgoing.kind, upload.filename, upload.data, upload.mime)
    return render.media_message(outgoing.kind, media_id)


class MemberSender:
    def __init__(self, api: WeComApi, read: MediaReader, agent_id: int, limiter: SlidingWindow) -> None:
        self._api = api
        self._read = read
        self._agent_id = agent_id
        self._limiter = limiter
        self._actions = ActionsShown()
        self._partly_sent = PartlySent()

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Delivers one reply; raises ChatUnreachable when WeCom says the member or group is gone."""
        await send_reply(
            self._api,
            chat,
            reply,
            self._read,
            stages=render.MEMBER_STAGES,
            actions=self._actions,
            deliver=self._deliver,
            partly_sent=self._partly_sent,
        )

    async def _deliver(self, chat: ChatRef, message: dict[str, Any]) -> None:
        await self._limiter.wait(chat.serialize())
        try:
            if chat.kind == render.GROUP:
                kind = message["msgtype"]
                await self._api.call(
                    "appchat/send", lambda client: client.appchat.send(chat.chat_id, kind, **message[kind])
                )
                return
            result = await self._api.call(
                "message/send", lambda client: client.message.send(self._agent_id, chat.chat_id, msg=message)
            )
        except WeComError as error:
            if error.errcode in GONE:
                raise ChatUnreachable(f"WeCom errcode {error.errcode}") from None
            raise
        if chat.chat_id in str(result.get("invaliduser") or "").split("|"):
            raise ChatUnreachable("not a member this app can reach")
