"""A local Telegram Bot API server: the real python-telegram-bot talks to it over HTTP.

It serves `POST /bot{token}/{method}` and file downloads under `/file/bot{token}/`, records every
call (form fields JSON-decoded, uploaded files as bytes), answers the way the Bot API does, and can
be told to fail the next calls of a method (429 with retry_after, 403 blocked, 5xx, ...) or to stall
them (no answer for a while, then the connection drops, the call not performed).

Payment calls are held to Telegram's own description (`telegram_schema`): one Telegram would refuse is
answered 400 as Telegram does and kept in `violations`; the payment messages tests hand to the bot
(`successful_payment`, `refunded_payment`) are built from the described types.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import telegram_schema
from tests.fakes.forms import read_form

BOT_ID = 999000
BOT_USERNAME = "image2bot_test_bot"
EMPTY_POLL_SLEEP_S = 0.05
WAIT_S = 30  # generous: a loaded CI machine starts a bot subprocess slowly
PLAIN_TEXT_FIELDS = {"text", "caption", "description", "secret_token", "url", "callback_query_id", "file_id"}


@dataclass(slots=True)
class Call:
    method: str
    fields: dict[str, Any]
    files: dict[str, bytes]
    at: float = field(default_factory=time.monotonic)
    result: Any = None  # what the double answered (None when it failed the call)

    @property
    def message_id(self) -> int:
        """The id of the message this call sent or edited."""
        assert isinstance(self.result, dict), self.result
        return int(self.result["message_id"])

    @property
    def chat_id(self) -> int | None:
        value = self.fields.get("chat_id")
        return int(value) if value is not None else None

    @property
    def markup(self) -> dict[str, Any] | None:
        return self.fields.get("reply_markup")

    def buttons(self) -> list[dict[str, Any]]:
        markup = self.markup or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def upload(self) -> bytes:
        """The one file this call uploaded (photo, document, or edited media)."""
        assert len(self.files) == 1, sorted(self.files)
        return next(iter(self.files.values()))


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    payload: dict[str, Any]
    stall_s: float = 0.0  # > 0: no answer for this long, then the connection drops


class TelegramBotAPIDouble:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.violations: list[str] = []  # payment calls Telegram would have refused
        self._links = itertools.count(1)
        self.files: dict[str, bytes] = {}
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._stopping = asyncio.Event()
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Who administers each group (chat id -> user ids), and who created it: getChatMember's answer.
        self.admins: dict[int, set[int]] = defaultdict(set)
        self.owners: dict[int, int] = {}

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._stopping.set()  # stalled calls end now rather than hold the shutdown
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # --- what a test arranges ----------------------------------------------------------------------

    def fail_next(self, method: str, status: int, description: str, **parameters: Any) -> None:
        payload: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            payload["parameters"] = parameters
        self._failures[method].append(_Failure(status, payload))

    def stall_next(self, method: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` get no answer for `seconds` (or until the double stops),
        then the connection drops; they are recorded as failed and not performed."""
        self._failures[method].extend(_Failure(0, {}, seconds) for _ in range(times))

    def add_file(self, file_id: str, data: bytes) -> None:
        self.files[file_id] = data

    def next_update_id(self) -> int:
        return next(self._update_ids)

    # --- what a test reads -------------------------------------------------------------------------

    def of(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [
            call
            for call in self.calls
            if call.method == method and (chat_id is None or call.chat_id == chat_id)
        ]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Waits until `condition()` holds over the calls recorded so far."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(condition)

    async def wait_for(self, method: str, count: int = 1, *, chat_id: int | None = None) -> list[Call]:
        """Waits until `count` calls of `method` (to `chat_id`) were recorded; returns them all."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: len(self.of(method, chat_id)) >= count)
        return self.of(method, chat_id)

    # --- the server --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        method = request.match_info["method"]
        fields, files = await _read(request)
        if method == "getUpdates":
            return _json({"ok": True, "result": await self._updates(fields)})
        call = Call(method, fields, files)
        failure = self._failures[method].popleft() if self._failures[method] else None
        checked = failure is None and method in telegram_schema.CHECKED_METHODS
        if checked and (errors := telegram_schema.request_errors(method, fields)):
            self.violations.extend(errors)
            failure = _Failure(
                400, {"ok": False, "error_code": 400, "description": f"Bad Request: {errors[0]}"}
            )
        if failure is None:
            call.result = self._result(method, fields)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if failure is not None and failure.stall_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), failure.stall_s)
            if request.transport is not None:  # None once the client hung up
                request.transport.close()
            return web.Response(status=504)  # never reaches the client
        if failure is not None:
            return _json(failure.payload, failure.status)
        return _json({"ok": True, "result": call.result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        data = self.files.get(request.match_info["path"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _updates(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        try:
            batch.append(await asyncio.wait_for(self.updates.get(), timeout=EMPTY_POLL_SLEEP_S))
        except TimeoutError:
            return batch
        while not self.updates.empty():
            batch.append(self.updates.get_nowait())
        return batch

    def _result(self, method: str, fields: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Image 2",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method == "getFile":
            file_id = fields["file_id"]
            data = self.files.get(file_id, b"")
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(data),
                "file_path": file_id,
            }
        if method == "createInvoiceLink":
            return f"https://t.me/$invoice{next(self._links)}"
        if method == "getChatMember":
            return chat_member(self, int(fields["chat_id"]), int(fields["user_id"]))
        if method in (
            "sendMessage",
            "sendPhoto",
            "sendDocument",
            "editMessageText",
            "editMessageMedia",
            "editMessageReplyMarkup",
            "editMessageCaption",
        ):
            return self._message(method, fields)
        return True

    def _message(self, method: str, fields: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(fields["chat_id"])
        message_id = int(fields["message_id"]) if "message_id" in fields else next(self._message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Image 2", "username": BOT_USERNAME},
        }
        if "text" in fields:
            message["text"] = fields["text"]
        if "caption" in fields:
            message["caption"] = fields["caption"]
        if method == "sendPhoto" or (method == "editMessageMedia" and fields["media"]["type"] == "photo"):
            message["photo"] = [
                {"file_id": f"p{message_id}", "file_unique_id": f"p{message_id}", "width": 1, "height": 1}
            ]
        if method == "sendDocument":
            message["document"] = {"file_id": f"d{message_id}", "file_unique_id": f"d{message_id}"}
        return message


def successful_payment(
    payload: str,
    stars: int,
    charge_id: str,
    *,
    expires_at: int | None = None,
    first_recurring: bool = False,
) -> dict[str, Any]:
    """A `successful_payment` as Telegram sends it for a Stars payment; with `expires_at`, one of a
    subscription (its first payment when `first_recurring`, else a renewal)."""
    payment: dict[str, Any] = {
        "currency": telegram_schema.STARS,
        "total_amount": stars,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    if expires_at is not None:
        payment["subscription_expiration_date"] = expires_at
        payment["is_recurring"] = True
        if first_recurring:
            payment["is_first_recurring"] = True
    return payment


def refunded_payment(payload: str, stars: int, charge_id: str) -> dict[str, Any]:
    """A `refunded_payment` as Telegram sends it when the Stars of a payment went back."""
    return {
        "currency": telegram_schema.STARS,
        "total_amount": stars,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
    }


def chat_member(double: TelegramBotAPIDouble, chat_id: int, user_id: int) -> dict[str, Any]:
    """A ChatMember as the Bot API describes one: ChatMemberOwner, ChatMemberAdministrator or
    ChatMemberMember, with every field the description requires."""
    user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
    if double.owners.get(chat_id) == user_id:
        return {"status": "creator", "user": user, "is_anonymous": False}
    if user_id in double.admins[chat_id]:
        rights = {name: True for name in ADMIN_RIGHTS}
        return {
            "status": "administrator",
            "user": user,
            "can_be_edited": False,
            "is_anonymous": False,
            **rights,
        }
    return {"status": "member", "user": user}


# The rights every ChatMemberAdministrator carries (the Bot API's required `can_*` fields).
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)


async def _read(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    fields: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        return dict(await request.json()), files
    for part in await read_form(request):
        if part.filename is not None:
            files[part.name] = part.data
        else:
            fields[part.name] = part.text if part.name in PLAIN_TEXT_FIELDS else _decode(part.text)
    return fields, files


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)
