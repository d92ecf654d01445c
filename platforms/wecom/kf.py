"""WeCom customer service (微信客服): external WeChat users writing to a customer-service account.

A `kf_msg_or_event` callback only says that something arrived; the messages are pulled with
`kf/sync_msg` from a cursor kept in the database, so a restart neither loses nor repeats them, and
whatever arrived while the bot was down is pulled when it starts. Each message id is recorded as done
before the message is handled, so a crash in the middle of one message drops that one message rather
than handling it (and charging for it) twice.

Customers are identity `wecom-kf:<external_userid>` in chat `wecom-kf:<open_kfid>:<external_userid>`;
their texts and images are read as members' are (short replies, reference images: see `incoming`).

Replies go with `kf/send_msg`. WeCom lets the bot answer only within 48 hours of the customer's last
message, and at most 5 messages per customer message: when it refuses for that reason, the send
raises `ChatUnreachable(keep_pending=True)`, and the notifier keeps that chat's replies until the
customer writes again. To spend the five messages well, customers get no "started" progress.

`/support` (or `/客服`) hands the conversation to a person: `kf/service_state/trans` into the queue of
the account's human agents, where WeCom assigns one. While a person serves the customer, the bot
leaves their messages to that person and keeps its replies, until WeCom reports that the person ended
the session; then the bot answers the customer's next message. When WeCom cannot hand over (no
human agents set up), the message goes to the bot's own support desk instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from core.commands.router import Core
from core.errors import ChatUnreachable
from core.messages import ChatRef, Incoming, Reply, UserRef
from core.platform_state import StateStore
from platforms.base import Capabilities
from platforms.wecom import incoming, render
from platforms.wecom.client import WeComApi, WeComError
from platforms.wecom.incoming import References
from platforms.wecom.media import FILE_MAX_BYTES
from platforms.wecom.sending import ActionsShown, PartlySent, send_reply

log = logging.getLogger(__name__)

FROM_CUSTOMER = 3  # a message's origin: 3 the customer, 4 the system, 5 a human agent
WINDOW_CLOSED = frozenset({95001, 95002})  # five replies already sent; 48 hours passed
HUMAN_QUEUE = 2  # service state: waiting for a human agent
SESSION_CHANGE = "session_status_change"
SESSION_ENDED = 3  # change_type: the agent ended the session (1, 2 and 4: an agent took it)
SYNC_LIMIT = 1000
SUPPORT = re.compile(r"^/(support|客服)(\s|$)", re.IGNORECASE)


@dataclass(slots=True)
class Cursor:
    position: str = ""
    done: list[str] = field(default_factory=list)  # ids already handled in the batch from `position`

    @classmethod
    def load(cls, value: str | None) -> Cursor:
        if not value:
            return cls()
        data = json.loads(value)
        return cls(str(data.get("cursor", "")), [str(msgid) for msgid in data.get("done", [])])

    def dump(self) -> str:
        return json.dumps({"cursor": self.position, "done": self.done})


class CustomerService:
    name = render.CUSTOMER_PLATFORM
    capabilities = Capabilities(
        edit_messages=False,
        buttons=False,
        max_upload_bytes=FILE_MAX_BYTES,
        max_text_chars=render.TEXT_BYTES // 3,
    )

    def __init__(
        self, core: Core, api: WeComApi, state: StateStore, open_kfid: str, references: References
    ) -> None:
        self._core = core
        self._api = api
        self._state = state
        self._open_kfid = open_kfid
        self._references = references
        self._pulling = asyncio.Lock()
        self._served_by_person: dict[str, bool] = {}
        self._actions = ActionsShown()
        self._partly_sent = PartlySent()

    # --- outgoing ----------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        if await self._with_person(chat.chat_id):
            raise ChatUnreachable("a person serves this customer", keep_pending=True)
        await send_reply(
            self._api,
            chat,
            reply,
            self._core.media,
            stages=render.CUSTOMER_STAGES,
            actions=self._actions,
            deliver=self._deliver,
            partly_sent=self._partly_sent,
        )

    async def _deliver(self, chat: ChatRef, message: dict[str, Any]) -> None:
        try:
            await self._api.post("kf/send_msg", {"touser": chat.chat_id, "open_kfid": chat.kind, **message})
        except WeComError as error:
            if error.errcode not in WINDOW_CLOSED:
                raise
            log.warning(
                "wecom-kf: a customer's reply window is closed (errcode %s); "
                "the replies wait for their next message",
                error.errcode,
            )
            raise ChatUnreachable("reply window closed", keep_pending=True) from None

    # --- incoming ----------------------------------------------------------------------------------

    async def sync(self, token: str | None = None) -> None:
        """Pulls and handles every message not handled yet; `token` comes with a callback."""
        async with self._pulling:
            cursor = Cursor.load(await self._state.get(self._cursor_key))
            while True:
                request: dict[str, Any] = {"open_kfid": self._open_kfid, "limit": SYNC_LIMIT}
                if cursor.position:
                    request["cursor"] = cursor.position
                if token:
                    request["token"] = token
                result = await self._api.post("kf/sync_msg", request)
                for message in result.get("msg_list") or []:
                    msgid = str(message.get("msgid"))
                    if msgid in cursor.done:
                        continue
                    cursor.done.append(msgid)
                    await self._state.put(self._cursor_key, cursor.dump())
                    await self._handle(message)
                cursor = Cursor(str(result.get("next_cursor") or cursor.position))
                await self._state.put(self._cursor_key, cursor.dump())
                if not result.get("has_more"):
                    return

    async def _handle(self, message: dict[str, Any]) -> None:
        if message.get("msgtype") == "event":
            await self._on_event(message.get("event") or {})
            return
        customer = str(message.get("external_userid") or "")
        if message.get("origin") != FROM_CUSTOMER or not customer or await self._with_person(customer):
            return  # an agent's or the system's message, or one a person is looking after
        chat = render.customer_chat(str(message.get("open_kfid") or self._open_kfid), customer)
        user = UserRef(render.CUSTOMER_PLATFORM, customer)
        msgid = str(message.get("msgid"))
        if message.get("msgtype") == "image":
            media_id = str((message.get("image") or {}).get("media_id", ""))
            image = incoming.attachment(media_id, f"wecom-{msgid[-12:]}.jpg", self._api.download)
            self._references.remember(user.identity, image)
            return
        if message.get("msgtype") != "text":
            return
        said = str((message.get("text") or {}).get("content", ""))
        if SUPPORT.match(said.strip()) and await self._hand_over(chat):
            return
        text, images = incoming.for_core(said, user.identity, self._references)
        request = Incoming(user, chat, text, images, msgid, shows_buttons=self.capabilities.buttons)
        for reply in await self._core.dispatch(request):
            try:
                await self.send(chat, reply)
            except Exception as error:  # the customer's next message is still handled
                log.warning("wecom-kf: an answer could not be delivered (%s)", type(error).__name__)

    async def _on_event(self, event: dict[str, Any]) -> None:
        customer = str(event.get("external_userid") or "")
        if event.get("event_type") != SESSION_CHANGE or not customer:
            return
        ended = event.get("change_type") == SESSION_ENDED
        await self._set_with_person(customer, not ended)
        if ended:
            log.info("wecom-kf: a person ended a customer's session; the bot answers them again")

    async def _hand_over(self, chat: ChatRef) -> bool:
        request = {"open_kfid": chat.kind, "external_userid": chat.chat_id, "service_state": HUMAN_QUEUE}
        try:
            await self._api.post("kf/service_state/trans", request)
        except WeComError as error:
            log.warning("wecom-kf: %s; the support desk takes the message instead", error)
            return False
        await self._set_with_person(chat.chat_id, True)
        log.info("wecom-kf: a customer was handed to a person")
        return True

    # --- state kept across restarts ----------------------------------------------------------------

    @property
    def _cursor_key(self) -> str:
        return f"wecom-kf:{self._open_kfid}:cursor"

    def _person_key(self, customer: str) -> str:
        return f"wecom-kf:{self._open_kfid}:with-person:{customer}"

    async def _with_person(self, customer: str) -> bool:
        if customer not in self._served_by_person:
            self._served_by_person[customer] = await self._state.get(self._person_key(customer)) == "1"
        return self._served_by_person[customer]

    async def _set_with_person(self, customer: str, value: bool) -> None:
        await self._state.put(self._person_key(customer), "1" if value else "")
        self._served_by_person[customer] = value
