"""A local WeCom server API: the real wechatpy client talks to it over HTTP.

It serves under `/cgi-bin/`: `gettoken`, `message/send`, `appchat/send`, `media/upload`, `media/get`,
`kf/sync_msg`, `kf/send_msg` and `kf/service_state/trans`. It records every call, checks access
tokens the way WeCom does (an expired one gets 42001, an unknown one 40014), keeps a customer-service
message stream with cursors, enforces the customer-service reply window (5 messages per customer
message, closed after 48 hours), and can fail the next calls of an API (or only those a predicate
picks) with given errcodes, with an HTTP error status, or by stalling them (no answer for a while,
then the connection drops).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.forms import read_form

WAIT_S = 30  # generous: a loaded CI machine starts a bot subprocess slowly
KF_WINDOW_MESSAGES = 5
KF_COUNT_LIMIT = 95001  # five messages sent since the customer last wrote
KF_TIME_LIMIT = 95002  # 48 hours since the customer last wrote
ERRMSG = {
    40001: "invalid credential",
    40014: "invalid access_token",
    42001: "access_token expired",
    45009: "api freq out of limit",
    KF_COUNT_LIMIT: "send msg count limit",
    KF_TIME_LIMIT: "send msg time limit",
}


@dataclass(slots=True)
class Call:
    api: str  # "message/send"
    query: dict[str, str]
    body: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    answer: dict[str, Any] = field(default_factory=dict)
    status: int = 200  # the HTTP status answered; 0 when the call was stalled and got no answer
    at: float = field(default_factory=time.monotonic)  # when it arrived (the double's clock)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.answer.get("errcode", 0) == 0

    @property
    def msgtype(self) -> str:
        return str(self.body.get("msgtype"))

    @property
    def content(self) -> str:
        return str(self.body["text"]["content"])

    @property
    def media_id(self) -> str:
        return str(self.body[self.msgtype]["media_id"])


@dataclass(slots=True)
class _Fault:
    """What the next `times` calls of `api` that `where` picks get instead of an answer."""

    api: str
    where: Callable[[Call], bool] | None
    times: int
    errcode: int = 0  # > 0: this errcode, in a JSON answer
    status: int = 200  # not 200: this HTTP status with an error page
    stall_s: float = 0.0  # > 0: no answer for this long, then the connection drops


class WeComAPIDouble:
    def __init__(self, corp_id: str, secret: str) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.calls: list[Call] = []
        self.media: dict[str, bytes] = {}  # uploaded and downloadable media by id
        self.uploads: dict[str, tuple[str, str, bytes]] = {}  # media id -> (type, filename, bytes)
        self.unknown_members: set[str] = set()
        self.kf_messages: list[dict[str, Any]] = []
        self._kf_sent: defaultdict[str, int] = defaultdict(int)  # since the customer last wrote
        self._kf_expired: set[str] = set()
        self._tokens: dict[str, bool] = {}  # token -> still valid
        self._failures: defaultdict[str, deque[int]] = defaultdict(deque)
        self._faults: list[_Fault] = []
        self._stopping = asyncio.Event()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/cgi-bin/{api:.+}", self._api)
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
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    # --- what a test arranges ----------------------------------------------------------------------

    def fail_next(self, api: str, *errcodes: int, where: Callable[[Call], bool] | None = None) -> None:
        """The next calls of `api` (those `where` picks, if given) answer these errcodes, one call each."""
        if where is None:
            self._failures[api].extend(errcodes)
        else:
            self._faults.extend(_Fault(api, where, 1, errcode=errcode) for errcode in errcodes)

    def fail_http_next(
        self, api: str, status: int, times: int = 1, *, where: Callable[[Call], bool] | None = None
    ) -> None:
        """The next `times` calls of `api` (that `where` picks) get HTTP `status`: an error page."""
        self._faults.append(_Fault(api, where, times, status=status))

    def stall_next(
        self,
        api: str,
        seconds: float = 3600.0,
        times: int = 1,
        *,
        where: Callable[[Call], bool] | None = None,
    ) -> None:
        """The next `times` calls of `api` (that `where` picks) get no answer for `seconds` (or until
        the double stops), then the connection drops; they are recorded with status 0, not performed."""
        self._faults.append(_Fault(api, where, times, status=0, stall_s=seconds))

    def expire_tokens(self) -> None:
        """Every access token issued so far has run out (WeCom answers 42001 to it)."""
        self._tokens = dict.fromkeys(self._tokens, False)

    def add_media(self, data: bytes) -> str:
        media_id = f"media-{next(self._ids)}"
        self.media[media_id] = data
        return media_id

    def customer_writes(self, open_kfid: str, external_userid: str, **content: Any) -> None:
        """A customer message (`text={"content": ...}` or `image={"media_id": ...}`) joins the stream."""
        msgtype = next(iter(content))
        self.kf_messages.append(
            {
                "msgid": f"kfmsg-{next(self._ids)}",
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": int(time.time()),
                "origin": 3,
                "msgtype": msgtype,
                **content,
            }
        )
        self._kf_sent[external_userid] = 0
        self._kf_expired.discard(external_userid)

    def agent_ends_session(self, open_kfid: str, external_userid: str, servicer: str) -> None:
        event = {
            "event_type": "session_status_change",
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            "change_type": 3,
            "old_servicer_userid": servicer,
            "msg_code": "code",
        }
        self.kf_messages.append(
            {"msgid": f"kfmsg-{next(self._ids)}", "send_time": int(time.time()), "origin": 4}
            | {"msgtype": "event", "event": event}
        )

    def expire_kf_window(self, external_userid: str) -> None:
        """48 hours pass without the customer writing."""
        self._kf_expired.add(external_userid)

    # --- what a test reads -------------------------------------------------------------------------

    def of(self, api: str, *, ok: bool = True, where: Callable[[Call], bool] | None = None) -> list[Call]:
        """The calls of `api` (only the successful ones unless `ok` is False) that match `where`."""
        return [
            call
            for call in self.calls
            if call.api == api and (call.ok or not ok) and (where is None or where(call))
        ]

    async def wait_for(
        self, api: str, count: int = 1, *, ok: bool = True, where: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        """Waits until `count` calls of `api` like `of` selects were recorded; returns them."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: len(self.of(api, ok=ok, where=where)) >= count)
        return self.of(api, ok=ok, where=where)

    # --- the server --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        api = request.match_info["api"]
        query = dict(request.query)
        body: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "multipart/form-data":
            for part in await read_form(request):
                if part.filename is not None:
                    files[part.name] = (part.filename, part.data)
        elif request.can_read_body:
            body = await request.json()
        call = Call(api, query, body, files)
        if (fault := self._take_fault(call)) is not None:
            return await self._fault(request, call, fault)
        if api == "media/get" and self._authorised(query) == 0 and query.get("media_id") in self.media:
            call.answer = {"errcode": 0}
            await self._record(call)
            return web.Response(body=self.media[query["media_id"]], content_type="image/png")
        call.answer = self._answer(call)
        await self._record(call)
        return web.json_response(call.answer)

    def _take_fault(self, call: Call) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.api == call.api and (fault.where is None or fault.where(call)):
                fault.times -= 1
                return fault
        return None

    async def _fault(self, request: web.Request, call: Call, fault: _Fault) -> web.Response:
        call.status = fault.status
        if fault.errcode:
            call.answer = _error(fault.errcode)
        await self._record(call)
        if fault.errcode:
            return web.json_response(call.answer)
        if not fault.stall_s:
            return web.Response(
                status=fault.status, text="<html>upstream error</html>", content_type="text/html"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), fault.stall_s)
        if request.transport is not None:  # None once the client hung up
            request.transport.close()
        return web.Response(status=504)  # never reaches the client

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _answer(self, call: Call) -> dict[str, Any]:
        if call.api == "gettoken":
            return self._failure(call.api) or self._token(call.query)
        if refused := self._authorised(call.query):
            return _error(refused)
        if failure := self._failure(call.api):
            return failure
        handler = {
            "message/send": self._message_send,
            "appchat/send": lambda _call: {"errcode": 0, "errmsg": "ok"},
            "media/upload": self._upload,
            "media/get": lambda _call: _error(40007),
            "kf/sync_msg": self._sync,
            "kf/send_msg": self._kf_send,
            "kf/service_state/trans": lambda _call: {"errcode": 0, "errmsg": "ok", "msg_code": ""},
        }.get(call.api)
        return handler(call) if handler else _error(48002)

    def _failure(self, api: str) -> dict[str, Any] | None:
        return _error(self._failures[api].popleft()) if self._failures[api] else None

    def _token(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("corpid") != self.corp_id or query.get("corpsecret") != self.secret:
            return _error(40001)
        token = f"token-{next(self._ids)}"
        self._tokens[token] = True
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}

    def _authorised(self, query: dict[str, str]) -> int:
        valid = self._tokens.get(query.get("access_token", ""))
        return 0 if valid else 42001 if valid is False else 40014

    def _message_send(self, call: Call) -> dict[str, Any]:
        invalid = "|".join(
            u for u in str(call.body.get("touser", "")).split("|") if u in self.unknown_members
        )
        return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid, "msgid": f"m{next(self._ids)}"}

    def _upload(self, call: Call) -> dict[str, Any]:
        filename, data = call.files["media"]
        media_id = f"upload-{next(self._ids)}"
        self.uploads[media_id] = (call.query["type"], filename, data)
        self.media[media_id] = data
        return {"errcode": 0, "errmsg": "ok", "type": call.query["type"], "media_id": media_id}

    def _sync(self, call: Call) -> dict[str, Any]:
        start = int(call.body.get("cursor") or 0)
        limit = int(call.body.get("limit") or 1000)
        batch = self.kf_messages[start : start + limit]
        end = start + len(batch)
        has_more = int(end < len(self.kf_messages))
        return {
            "errcode": 0,
            "errmsg": "ok",
            "next_cursor": str(end),
            "has_more": has_more,
            "msg_list": batch,
        }

    def _kf_send(self, call: Call) -> dict[str, Any]:
        customer = str(call.body["touser"])
        if customer in self._kf_expired:
            return _error(KF_TIME_LIMIT)
        if self._kf_sent[customer] >= KF_WINDOW_MESSAGES:
            return _error(KF_COUNT_LIMIT)
        self._kf_sent[customer] += 1
        return {"errcode": 0, "errmsg": "ok", "msgid": f"kfsent-{next(self._ids)}"}


def _error(errcode: int) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}
