"""The WeCom door: the members of the enterprise write to a self-built app; with `kf_open_kfid`, external
WeChat users write to a customer-service account too (see `kf`).

WeCom calls one callback URL on the bot's web app: a GET when the URL is saved (answered with the
decrypted echo) and a POST per message or event. A request whose signature, timestamp or corp id do
not check out gets 403 and nothing in it is used. Messages are answered 200 at once (WeCom retries
after five seconds, three times) and handled in the background; a repeated MsgId is handled once, by
whichever process took it in first (the core's inbound log, in the database).

Members are identity `wecom:<userid>` in chat `wecom:user:<userid>`; the app's group chats (for
support staff) are `wecom:group:<chatid>`, to send to only. Members type commands as anywhere
(`/imagine ...`, `/画 ...`), short replies to results (`up2k 42`), and send images as references;
`incoming` has the rules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from contextlib import suppress
from typing import Any

from aiohttp import web
from wechatpy.enterprise.messages import ImageMessage, TextMessage
from wechatpy.messages import UnknownMessage

from core.commands.router import Core
from core.inbound import InboundLog
from core.messages import ChatRef, Incoming, Reply, UserRef
from core.platform_state import StateStore
from platforms.base import Capabilities
from platforms.wecom import incoming, render
from platforms.wecom.callback import CallbackCrypto, Malformed, Opened, Refused
from platforms.wecom.client import DEFAULT_BASE_URL, RATE_LIMIT_BACKOFF_S, WeComApi, WeComError
from platforms.wecom.kf import CustomerService
from platforms.wecom.limits import SlidingWindow
from platforms.wecom.media import FILE_MAX_BYTES
from platforms.wecom.sending import MemberSender

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 10.0
KF_EVENT = "kf_msg_or_event"


class WeComAdapter:
    name = render.PLATFORM
    capabilities = Capabilities(
        edit_messages=False,
        buttons=False,
        max_upload_bytes=FILE_MAX_BYTES,
        max_text_chars=render.TEXT_BYTES // 3,  # 2048 bytes: Chinese takes three a character
    )

    def __init__(
        self,
        core: Core,
        *,
        corp_id: str,
        agent_id: int,
        secret: str,
        token: str,
        encoding_aes_key: str,
        api_base_url: str = DEFAULT_BASE_URL,
        request_timeout_s: float = 10,
        state: StateStore,
        inbound: InboundLog,
        kf_open_kfid: str | None = None,
        rate_limit_backoff_s: Sequence[float] = RATE_LIMIT_BACKOFF_S,
    ) -> None:
        self._core = core
        self._agent_id = agent_id
        self._api = WeComApi(
            corp_id,
            secret,
            base_url=api_base_url,
            timeout_s=request_timeout_s,
            rate_limit_backoff_s=rate_limit_backoff_s,
        )
        self._crypto = CallbackCrypto(token, encoding_aes_key, corp_id)
        self._sender = MemberSender(self._api, core.media, agent_id, SlidingWindow())
        self._references = incoming.References()
        self._inbound = inbound
        self._intake = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._serving = False
        self.kf = (
            CustomerService(core, self._api, state, kf_open_kfid, self._references) if kf_open_kfid else None
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """While serving: WeCom calls in, so nothing else needs to be up."""
        return self._serving

    async def start(self) -> None:
        """Messages arrive through `handle_callback`; this pulls what customers wrote while the bot was
        away, then waits for `stop()`."""
        if self.kf is not None:
            self._spawn(self._catch_up(self.kf))
        log.info("wecom: receiving callbacks")
        self._serving = True
        try:
            await self._stopped.wait()
        finally:
            self._serving = False
            await self.close()

    async def stop(self) -> None:
        self._stopped.set()

    async def close(self) -> None:
        """Lets the messages being handled finish (for a while), then cancels what is left."""
        with suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT_S):
                await self.idle()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Returns once every message received so far has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- outgoing ----------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        await self._sender.send(chat, reply)

    # --- incoming ----------------------------------------------------------------------------------

    async def handle_callback(self, request: web.Request) -> web.Response:
        """WeCom's GET (URL verification) and POST (messages and events)."""
        try:
            if request.method == "GET":
                return web.Response(text=self._crypto.echo(request.query))
            opened = self._crypto.open(request.query, await request.read())
        except Refused:
            log.warning("wecom: refused a callback that is not from WeCom for this app")
            return web.Response(status=403)
        except Malformed:
            return web.Response(status=400)
        self._spawn(self._take_in(opened))  # WeCom wants its answer within seconds: the rest waits
        return web.Response(text="")

    async def _take_in(self, opened: Opened) -> None:
        """Records one decrypted message as taken in (a repeat, to this process or another, is dropped),
        then hands it on. One at a time, in the order they came: an image is remembered before the
        text that follows it is read."""
        message = opened.message
        async with self._intake:
            if isinstance(message, TextMessage | ImageMessage):
                if message.agent == self._agent_id and await self._first_time(f"msg:{message.id}"):
                    self._from_member(message)
            elif isinstance(message, UnknownMessage) and self.kf is not None:
                if opened.fields.findtext("Event") != KF_EVENT:
                    return
                token = opened.fields.findtext("Token") or ""
                if not token or await self._first_time(f"kf:{token}"):  # no token: nothing to tell apart
                    self._spawn(self.kf.sync(token))

    async def _first_time(self, key: str) -> bool:
        return await self._inbound.first_time(f"{render.PLATFORM}:{key}")

    def _from_member(self, message: TextMessage | ImageMessage) -> None:
        user = UserRef(render.PLATFORM, str(message.source))
        if isinstance(message, ImageMessage):
            image = incoming.attachment(str(message.media_id), f"wecom-{message.id}.jpg", self._api.download)
            self._references.remember(user.identity, image)
            return
        said, images = incoming.for_core(str(message.content or ""), user.identity, self._references)
        request = Incoming(
            user,
            render.member_chat(user.user_id),
            said,
            images,
            str(message.id),
            shows_buttons=self.capabilities.buttons,
            private_chat=render.member_chat(user.user_id),  # a member writes from their own chat only
        )
        self._spawn(self._answer(request))

    async def _answer(self, request: Incoming) -> None:
        for reply in await self._core.dispatch(request):
            try:
                await self._sender.send(request.chat, reply)
            except Exception as error:  # the rest of the answer may still get through
                log.warning("wecom: an answer could not be delivered (%s)", type(error).__name__)

    async def _catch_up(self, kf: CustomerService) -> None:
        try:
            await kf.sync()
        except WeComError as error:
            log.warning("wecom-kf: could not pull what customers wrote while away (%s)", error)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("wecom: a message could not be handled", exc_info=error)
