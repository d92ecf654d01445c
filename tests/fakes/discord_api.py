"""A local double of Discord's REST API, CDN and gateway, driven by the real discord.py over 127.0.0.1.

It records every request, keeps the messages it was asked to create (with their components, so a
test can press their buttons), refuses what Discord refuses (oversize uploads, expired interaction
tokens, wrong bot tokens) and can be scripted to fail or to stall. The gateway speaks HELLO, heartbeat ACKs,
IDENTIFY -> READY, and dispatches the events a test gives it: to every connection, or to the one that
identified as a given shard (a sharded bot opens one connection per shard, `shard: [id, count]`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest_asyncio
from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes.discord_schema import command_errors

T = TypeVar("T")
TOKEN = "discord-test-token"
APPLICATION_ID = 700_000_000_000_000_001
BOT_ID = 700_000_000_000_000_002
GUILD_ID = 700_000_000_000_000_003
CHANNEL_ID = 700_000_000_000_000_004
DISCORD_EPOCH_MS = 1_420_070_400_000
TOKEN_LIFETIME = timedelta(minutes=15)
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
WAIT_S = 30.0  # generous: a loaded CI machine starts a bot subprocess slowly
CALLBACK = re.compile(r"/interactions/\d+/([^/]+)/callback")


def snowflake(at: datetime | None = None, sequence: int = 0) -> int:
    moment = at or datetime.now(UTC)
    return ((int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) + sequence % 4096


def user(user_id: int, name: str) -> dict[str, Any]:
    """A person as Discord's description shapes a `UserResponse`."""
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
    }


@dataclass
class Upload:
    field: str
    filename: str
    data: bytes


@dataclass
class Call:
    method: str
    path: str  # below the API root, e.g. "/webhooks/1/abc"
    query: dict[str, str]
    body: Any  # the JSON body, or a multipart request's payload_json
    uploads: list[Upload]
    status: int = 200  # 504 for a stalled request, which got no answer and was not performed
    at: float = field(default_factory=time.monotonic)  # when it arrived (the double's clock)


@dataclass
class _Interaction:
    id: int
    user: dict[str, Any]
    channel_id: int
    size_limit: int
    pressed_message: int | None = None
    original: int | None = None
    answered: bool = False
    expired: bool = False

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(((self.id >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


@dataclass
class _Failure:
    route: re.Pattern[str]
    status: int
    code: int
    times: int
    retry_after: float
    stall_s: float = 0.0  # > 0: no answer for this long, then the connection drops


@dataclass
class DiscordDouble:
    token: str = TOKEN
    bot: dict[str, Any] = field(default_factory=lambda: {**user(BOT_ID, "image2bot"), "bot": True})
    root: str = ""
    calls: list[Call] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    gateway_frames: list[dict[str, Any]] = field(default_factory=list)  # what the client sent
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0  # gateway connections opened, over the double's life
    ready_sent: int = 0  # IDENTIFYs answered with READY, over every connection
    downloads_open: asyncio.Event = field(default_factory=asyncio.Event)  # clear it to hold downloads
    guild_commands: dict[int, set[str]] = field(default_factory=dict)  # published to one guild
    refused_commands: list[str] = field(default_factory=list)  # why published commands were refused
    dispatched: dict[str, float] = field(default_factory=dict)  # interaction token -> when it was sent
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # everyone who interacted, by id
    dm_channels: dict[str, int] = field(default_factory=dict)  # user id -> the DM channel opened with them
    _interactions: dict[str, _Interaction] = field(default_factory=dict)
    _cdn: dict[str, bytes] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _shard_sockets: dict[int, web.WebSocketResponse] = field(default_factory=dict)  # by shard id
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def api(self) -> str:
        return f"{self.root}/api/v10"

    async def start(self) -> None:
        self.downloads_open.set()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{key:.+}", self._download)
        app.router.add_route("*", "/api/v10/{path:.+}", self._rest)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.root = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        self._closing.set()  # stalled requests end now rather than hold the shutdown
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting -------------------------------------------------------------------------------
    def fail(
        self, route: str, status: int, *, code: int = 0, times: int = 1, retry_after: float = 0.01
    ) -> None:
        """The next `times` requests whose "METHOD /path" matches the regex `route` fail."""
        self._failures.append(_Failure(re.compile(route), status, code, times, retry_after))

    def stall(self, route: str, *, seconds: float = 3600.0, times: int = 1) -> None:
        """The next `times` requests matching `route` get no answer for `seconds` (or until the double
        closes), then the connection drops; they are recorded with status 504 and not performed."""
        self._failures.append(_Failure(re.compile(route), 504, 0, times, 0.0, stall_s=seconds))

    def expire(self, interaction: dict[str, Any]) -> None:
        self._interactions[interaction["token"]].expired = True

    def attachment(self, data: bytes, filename: str, content_type: str = "image/png") -> dict[str, Any]:
        """A file as a user's upload: its metadata, served by the CDN route."""
        key = f"attachments/{next(self._ids)}/{filename}"
        self._cdn[key] = data
        return {
            "id": str(snowflake(sequence=next(self._ids))),
            "filename": filename,
            "size": len(data),
            "url": f"{self.root}/cdn/{key}",
            "proxy_url": f"{self.root}/cdn/{key}",
            "content_type": content_type,
        }

    def slash(
        self,
        name: str,
        options: dict[str, str | int] | None = None,
        *,
        attachments: dict[str, dict[str, Any]] | None = None,
        **where: Any,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for `/name option:value ...` (an int is an integer option)."""
        listed = [
            {"name": key, "type": 4 if isinstance(value, int) else 3, "value": value}
            for key, value in (options or {}).items()
        ]
        listed += [
            {"name": key, "type": 11, "value": item["id"]} for key, item in (attachments or {}).items()
        ]
        data: dict[str, Any] = {"id": "800", "name": name, "type": 1, "options": listed}
        if where.get("guild", True) and name in self.guild_commands.get(GUILD_ID, ()):
            data["guild_id"] = str(GUILD_ID)
        if attachments:
            data["resolved"] = {"attachments": {item["id"]: item for item in attachments.values()}}
        return self._interaction(2, data, **where)

    def press(self, message: dict[str, Any], custom_id: str, **where: Any) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for a click on the button `custom_id` of `message`."""
        ids = [button["custom_id"] for row in message["components"] for button in row["components"]]
        assert custom_id in ids, f"{custom_id} is not on the message: {ids}"
        payload = self._interaction(3, {"custom_id": custom_id, "component_type": 2}, **where)
        payload["message"] = message
        self._interactions[payload["token"]].pressed_message = int(message["id"])
        return payload

    def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        who: dict[str, Any],
        guild: bool = True,
        channel_id: int = CHANNEL_ID,
        locale: str = "en-US",
        size_limit: int = DEFAULT_UPLOAD_LIMIT,
        age: timedelta = timedelta(0),
        permissions: int = 0,
    ) -> dict[str, Any]:
        interaction_id = snowflake(datetime.now(UTC) - age, next(self._ids))
        token = f"interaction-token-{interaction_id}"
        self._interactions[token] = _Interaction(interaction_id, who, channel_id, size_limit)
        self.users[str(who["id"])] = who
        channel: dict[str, Any] = {"id": str(channel_id), "type": 0 if guild else 1}
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "token": token,
            "version": 1,
            "data": data,
            "channel_id": str(channel_id),
            "channel": channel,
            "locale": locale,
            "attachment_size_limit": size_limit,
            "app_permissions": "0",
            "entitlements": [],
            "context": 0 if guild else 1,
        }
        if guild:
            channel.update(guild_id=str(GUILD_ID), name="general", position=0, permission_overwrites=[])
            payload["guild_id"] = str(GUILD_ID)
            payload["guild_locale"] = "en-US"
            payload["member"] = {
                "user": who,
                "roles": [],
                "joined_at": _now(),
                "deaf": False,
                "mute": False,
                "flags": 0,
                # Interactions carry the member's resolved permissions in the channel.
                "permissions": str(permissions),
            }
            payload["authorizing_integration_owners"] = {"0": str(GUILD_ID)}
        else:
            channel["recipients"] = [who]
            payload["user"] = who
            payload["authorizing_integration_owners"] = {"1": who["id"]}
        return payload

    # -- reading what happened -------------------------------------------------------------------
    def requests(self, method: str, route: str) -> list[Call]:
        pattern = re.compile(route)
        return [call for call in self.calls if call.method == method and pattern.fullmatch(call.path)]

    async def wait_for(
        self, method: str, route: str, count: int = 1, *, status: int | None = None
    ) -> list[Call]:
        """Waits until `count` successful requests (or answered with `status`) matched; returns them all."""

        def matched() -> list[Call]:
            calls = self.requests(method, route)
            return [
                call for call in calls if (call.status < 300 if status is None else call.status == status)
            ]

        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: len(matched()) >= count)
        return matched()

    async def until(self, condition: Callable[[], T | None]) -> T:
        """Waits until `condition()`, checked after each request the double answers, is not None."""
        found: list[T] = []

        def met() -> bool:
            value = condition()
            found[:] = [value] if value is not None else []
            return bool(found)

        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(met)
        return found[0]

    def acknowledgements(self) -> dict[str, Call]:
        """The first callback each interaction got (answered or refused), by interaction token."""
        first: dict[str, Call] = {}
        for call in self.calls:
            if (match := CALLBACK.fullmatch(call.path)) is not None:
                first.setdefault(match[1], call)
        return first

    def original(self, interaction: dict[str, Any]) -> dict[str, Any]:
        state = self._interactions[interaction["token"]]
        assert state.original is not None, "the interaction was not answered with a message"
        return self.messages[state.original]

    # -- gateway ---------------------------------------------------------------------------------
    @property
    def identifies(self) -> list[dict[str, Any]]:
        """The IDENTIFY payloads the gateway received, in order (with `shard` when sharded)."""
        return [frame["d"] for frame in self.gateway_frames if frame["op"] == 2]

    async def wait_identified(self, count: int) -> None:
        """Waits until `count` IDENTIFYs have been answered READY."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: self.ready_sent >= count)

    async def dispatch(self, event: str, data: dict[str, Any], *, shard: int | None = None) -> None:
        """To every connection, or only to the one that identified as `shard`."""
        sockets = list(self._sockets) if shard is None else [self._shard_sockets[shard]]
        if event == "INTERACTION_CREATE":
            self.dispatched[data["token"]] = time.monotonic()
        for socket in sockets:
            await socket.send_json({"op": 0, "t": event, "s": next(self._sequence), "d": data})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.add(socket)
        self.connections += 1
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        async for frame in socket:
            if frame.type != WSMsgType.TEXT:
                continue
            sent = json.loads(frame.data)
            self.gateway_frames.append(sent)
            if sent["op"] == 1:
                await socket.send_json({"op": 11})
            elif sent["op"] == 2 and sent["d"]["token"] == self.token:
                ready = {
                    "v": 10,
                    "user": self.bot,
                    "guilds": [],
                    "session_id": "session-1",
                    "resume_gateway_url": f"{self.root.replace('http', 'ws')}/gateway",
                    "application": {"id": str(APPLICATION_ID), "flags": 0},
                }
                if shard := sent["d"].get("shard"):
                    ready["shard"] = shard  # discord.py's sharded client reads which shard is ready
                    self._shard_sockets[shard[0]] = socket
                await socket.send_json({"op": 0, "t": "READY", "s": next(self._sequence), "d": ready})
                async with self._changed:
                    self.ready_sent += 1
                    self.identified.set()
                    self._changed.notify_all()
        self._sockets.discard(socket)
        return socket

    # -- REST ------------------------------------------------------------------------------------
    async def _download(self, request: web.Request) -> web.Response:
        await self.downloads_open.wait()
        data = self._cdn.get(request.match_info["key"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _rest(self, request: web.Request) -> web.Response:
        body, uploads = await _read(request)
        call = Call(request.method, "/" + request.match_info["path"], dict(request.query), body, uploads)
        failure = self._scripted(call)
        if failure is not None and failure.stall_s > 0:
            return await self._stall(request, call, failure.stall_s)
        response = _failure_response(failure) if failure is not None else self._answer(request, call)
        call.status = response.status
        await self._record(call)
        return response

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _stall(self, request: web.Request, call: Call, seconds: float) -> web.Response:
        call.status = 504
        await self._record(call)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        if request.transport is not None:  # None once the client hung up
            request.transport.close()
        return web.Response(status=504)  # never reaches the client

    def _scripted(self, call: Call) -> _Failure | None:
        for failure in self._failures:
            if failure.times > 0 and failure.route.fullmatch(f"{call.method} {call.path}"):
                failure.times -= 1
                return failure
        return None

    def _answer(self, request: web.Request, call: Call) -> web.Response:
        path, body = call.path, call.body
        if match := CALLBACK.fullmatch(path):
            return self._callback(match[1], body, call)
        if match := re.fullmatch(r"/webhooks/\d+/([^/]+)(/messages/@original)?", path):
            return self._webhook(request.method, match[1], bool(match[2]), call)
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _json({"code": 0, "message": "401: Unauthorized"}, 401)
        if path == "/users/@me":
            return _json(self.bot)
        if path == "/oauth2/applications/@me":
            return _json(_application(self.bot))
        if path == "/gateway/bot":
            limits = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            gateway = f"{self.root.replace('http', 'ws')}/gateway"
            return _json({"url": gateway, "shards": 1, "session_start_limit": limits})
        if re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path) and request.method == "PUT":
            if errors := command_errors(body):  # what Discord's rules refuse, refused as Discord does
                self.refused_commands += errors
                return _json({"code": 50035, "message": "Invalid Form Body", "errors": errors}, 400)
            if guild := re.search(r"/guilds/(\d+)/", path):
                self.guild_commands[int(guild[1])] = {command["name"] for command in body}
            return _json(
                [
                    {**command, "id": str(800 + i), "application_id": str(APPLICATION_ID), "version": "1"}
                    for i, command in enumerate(body)
                ]
            )
        if path == "/users/@me/channels" and request.method == "POST":
            return self._create_dm(body)
        if (match := re.fullmatch(r"/channels/(\d+)/messages", path)) and request.method == "POST":
            if _too_large(call.uploads, DEFAULT_UPLOAD_LIMIT):
                return _json({"code": 40005, "message": "Request entity too large"}, 413)
            return _json(self._create(int(match[1]), body, call.uploads))
        return _json({"code": 0, "message": f"the double has no route {request.method} {path}"}, 404)

    def _create_dm(self, body: Any) -> web.Response:
        """`create_dm`: the DM channel with a user (the same one every time), shaped as the OpenAPI
        description's `PrivateChannelResponse`; a user Discord does not know is refused as it does."""
        given = body.get("recipient_id") if isinstance(body, dict) else None
        # The description's snowflakes are digit strings; discord.py sends an int, which Discord takes.
        recipient = str(given) if isinstance(given, int | str) and not isinstance(given, bool) else ""
        if not recipient.isdigit():
            return _json({"code": 50035, "message": "Invalid Form Body"}, 400)
        if recipient not in self.users:
            return _json({"code": 10013, "message": "Unknown User"}, 404)
        if recipient not in self.dm_channels:
            self.dm_channels[recipient] = snowflake(sequence=next(self._ids))
        channel = {
            "id": str(self.dm_channels[recipient]),
            "type": 1,
            "flags": 0,
            "last_message_id": None,
            "recipients": [self.users[recipient]],
        }
        return _json(channel)

    def _callback(self, token: str, body: dict[str, Any], call: Call) -> web.Response:
        state = self._interactions.get(token)
        if state is None or state.expired or datetime.now(UTC) - state.created > TOKEN_LIFETIME:
            return _json({"code": 10062, "message": "Unknown interaction"}, 404)
        if state.answered:
            return _json({"code": 40060, "message": "Interaction has already been acknowledged."}, 400)
        state.answered = True
        kind, data = body["type"], body.get("data") or {}
        message = None
        if kind in (4, 5):
            loading = 128 if kind == 5 else 0
            message = self._create(
                state.channel_id, {**data, "flags": data.get("flags", 0) | loading}, call.uploads, state
            )
            state.original = int(message["id"])
        elif kind in (6, 7) and state.pressed_message is not None:
            state.original = state.pressed_message  # a press's answer is the message pressed
            if kind == 7:
                message = self._edit(state.pressed_message, data, call.uploads)
        answer = {
            "interaction": {
                "id": str(state.id),
                "type": 2,
                "response_message_id": message and message["id"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & 64),
            },
            "resource": {"type": kind, **({"message": message} if message else {})},
        }
        return _json(answer) if call.query.get("with_response") else web.Response(status=204)

    def _webhook(self, method: str, token: str, original: bool, call: Call) -> web.Response:
        state = self._interactions.get(token)
        if state is None or state.expired or datetime.now(UTC) - state.created > TOKEN_LIFETIME:
            return _json({"code": 50027, "message": "Invalid Webhook Token"}, 401)
        if _too_large(call.uploads, state.size_limit):
            return _json({"code": 40005, "message": "Request entity too large"}, 413)
        if not original and method == "POST":
            return _json(self._create(state.channel_id, call.body, call.uploads, state))
        if state.original is None or state.original not in self.messages:
            return _json({"code": 10008, "message": "Unknown Message"}, 404)
        if method == "PATCH":
            return _json(self._edit(state.original, call.body, call.uploads))
        if method == "DELETE":
            del self.messages[state.original]
            return web.Response(status=204)
        return _json(self.messages[state.original])

    def _create(
        self, channel_id: int, body: dict[str, Any], uploads: list[Upload], by: _Interaction | None = None
    ) -> dict[str, Any]:
        message_id = snowflake(sequence=next(self._ids))
        message = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": self.bot,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [self._stored(message_id, upload) for upload in uploads],
            "embeds": body.get("embeds", []),
            "pinned": False,
            "type": 0 if by is None else 20,
            "flags": body.get("flags", 0),
            "components": body.get("components", []),
        }
        if by is not None:
            message["interaction_metadata"] = {"id": str(by.id), "type": 2, "user": by.user}
            message["webhook_id"] = str(APPLICATION_ID)
        self.messages[message_id] = message
        return message

    def _edit(self, message_id: int, body: dict[str, Any], uploads: list[Upload]) -> dict[str, Any]:
        message = self.messages[message_id]
        for key in ("content", "components", "embeds"):
            if key in body:
                message[key] = body[key] or ([] if key != "content" else "")
        if "attachments" in body:
            kept = {str(item.get("id")) for item in body["attachments"]}
            message["attachments"] = [item for item in message["attachments"] if item["id"] in kept]
            message["attachments"] += [self._stored(message_id, upload) for upload in uploads]
        message["flags"] = message["flags"] & ~128  # no longer "thinking"
        message["edited_timestamp"] = _now()
        return message

    def _stored(self, message_id: int, upload: Upload) -> dict[str, Any]:
        key = f"attachments/{message_id}/{next(self._ids)}/{upload.filename}"
        self._cdn[key] = upload.data
        url = f"{self.root}/cdn/{key}"
        return {
            "id": str(next(self._ids)),
            "filename": upload.filename,
            "size": len(upload.data),
            "url": url,
            "proxy_url": url,
        }


async def _read(request: web.Request) -> tuple[Any, list[Upload]]:
    if request.content_type != "multipart/form-data":
        return (await request.json() if request.can_read_body else None), []
    body: Any = None
    uploads: list[Upload] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        data = await part.read()
        if part.name == "payload_json":
            body = json.loads(data)
        else:
            uploads.append(Upload(part.name or "", part.filename or "", bytes(data)))
    return body, uploads


def _failure_response(failure: _Failure) -> web.Response:
    if failure.status == 429:
        limited = {"message": "You are being rate limited.", "retry_after": failure.retry_after}
        return _json({**limited, "global": False}, 429, {"Via": "1.1 google"})
    return _json({"code": failure.code, "message": "scripted failure"}, failure.status)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Exactly `application/json`: discord.py reads anything else (even with a charset) as text."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _too_large(uploads: list[Upload], limit: int) -> bool:
    return any(len(upload.data) > limit for upload in uploads)


def _application(bot: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(APPLICATION_ID),
        "name": "image2bot",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user(1, "owner"),
        "verify_key": "0" * 64,
        "flags": 0,
        "bot": bot,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat()


@pytest_asyncio.fixture
async def discord_api() -> AsyncIterator[DiscordDouble]:
    double = DiscordDouble()
    await double.start()
    try:
        yield double
    finally:
        await double.close()
