"""Everything the app posts to WeCom members (`message/send`) and to its group chats (`appchat/send`).

Images and files are uploaded as temporary media first. At most 30 messages a minute go to one chat
(WeCom silently drops what an app sends a member beyond that); more wait for a free slot. A result's
actions are listed under its image when it has one image, so the job's list of actions that follows
is then not sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.errors import ChatUnreachable
from core.messages import ChatRef, Reply, ReplyType, Stage
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


async def send_reply(
    api: WeComApi,
    chat: ChatRef,
    reply: Reply,
    *,
    stages: frozenset[Stage],
    actions: ActionsShown,
    deliver: Deliver,
) -> None:
    """Renders `reply`, uploads its media and hands each message to `deliver`, in order."""
    for part in render.parts(reply, stages=stages, actions_shown=actions.skip(chat, reply)):
        for message in await messages_for(api, part):
            await deliver(chat, message)
    actions.sent(chat, reply)


async def messages_for(api: WeComApi, part: Part) -> list[dict[str, Any]]:
    """The WeCom message bodies for one part, its media uploaded."""
    if isinstance(part, TextPart):
        return [render.text_message(part.content)]
    if isinstance(part, ImagePart):
        uploads = await asyncio.to_thread(media.image_uploads, part.path)
        messages = [await _uploaded(api, "image", uploads.image)]
        if uploads.original is not None:
            messages.append(await _uploaded(api, "file", uploads.original))
        return messages
    return await _file(api, part)


async def _file(api: WeComApi, part: FilePart) -> list[dict[str, Any]]:
    data = await asyncio.to_thread(part.path.read_bytes)
    if len(data) <= media.FILE_MAX_BYTES:
        return [await _uploaded(api, "file", media.file_upload(part.path, data))]
    uploads = await asyncio.to_thread(media.image_uploads, part.path)  # too big for a file: the best image
    return [await _uploaded(api, "image", uploads.image)]


async def _uploaded(api: WeComApi, media_type: str, upload: media.Upload) -> dict[str, Any]:
    media_id = await api.upload(media_type, upload.filename, upload.data, upload.mime)
    return render.media_message(media_type, media_id)


class MemberSender:
    def __init__(self, api: WeComApi, agent_id: int, limiter: SlidingWindow) -> None:
        self._api = api
        self._agent_id = agent_id
        self._limiter = limiter
        self._actions = ActionsShown()

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Delivers one reply; raises ChatUnreachable when WeCom says the member or group is gone."""
        await send_reply(
            self._api,
            chat,
            reply,
            stages=render.MEMBER_STAGES,
            actions=self._actions,
            deliver=self._deliver,
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
