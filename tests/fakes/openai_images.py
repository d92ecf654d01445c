"""A local double of the OpenAI Images + Moderations HTTP API, driven by the real SDK over 127.0.0.1.

It speaks the wire protocol (JSON, multipart, server-sent events), records every request (when it
arrived, and what the double did instead of a normal answer) and can be scripted to fail, block, hang,
drop the connection, garble or cut its answer, or break its stream: one images request per queued
behaviour, optionally only requests whose prompt contains a given text. `outage` takes the Images
endpoints down for a while, whatever is queued.

Every request it receives, every JSON answer and every stream event it sends is checked against OpenAI's
own OpenAPI description (`openapi_schema`). A request the description refuses is answered 400
`invalid_request_error`, as the real API would; every breach, either way, is kept in `violations`, and
the `openai_double` fixture fails the test at teardown unless the test announced them
(`expect_violations`).

It also answers as an Azure OpenAI resource (`azure_endpoint`): the same operations under
`/openai/deployments/<deployment>/...?api-version=...`, authorised by an `api-key` header.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import io
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.typedefs import Handler
from jsonschema import ValidationError
from PIL import Image

from tests.fakes import openapi_schema
from tests.fakes.forms import read_form

AZURE_PATH = re.compile(r"^/openai/deployments/[^/]+")

# The moderation categories the SDK's `Moderation` model expects.
_CATEGORIES = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
]


@dataclass
class RecordedRequest:
    path: str  # e.g. "/v1/images/generations"
    fields: dict[str, Any]  # JSON body, or the non-file multipart fields (values as str)
    files: list[tuple[str, str, bytes]]  # (field name e.g. "image[]", filename, content) for multipart
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived (the double's clock)
    fault: str | None = None  # what the double did instead of a normal answer, e.g. "http 429", "hang"

    @property
    def prompt(self) -> str:
        return str(self.fields.get("prompt") or "")


@dataclass
class _Behaviour:
    kind: str  # fail block stream_error truncate_stream malformed hang drip reset garble cut
    status: int = 200
    code: str | None = None
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    payload: str = ""
    prompt: str | None = None  # only for requests whose prompt contains this text


_STREAM_ONLY = ("stream_error", "truncate_stream", "drip")
_GONE = 499  # the status of an answer that never reaches the client (it hung up, or the double did)
_BROKEN_ON_PURPOSE = web.RequestKey("broken_on_purpose", bool)  # the answer was checked whole
# How the real API names what is wrong with a request, by the JSON Schema keyword that caught it.
_ERROR_CODES = {
    "required": "missing_required_parameter",
    "unevaluatedProperties": "unknown_parameter",
    "type": "invalid_type",
}


@functools.lru_cache(maxsize=64)
def png_bytes(width: int, height: int, color: tuple[int, int, int] = (200, 60, 30)) -> bytes:
    """A real PNG of the given size (solid colour, so it is small; remembered, as a megapixel still
    takes a while to encode and storms ask for the same few sizes again and again)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _error(
    status: int,
    message: str,
    *,
    code: str | None,
    type_: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    default_type = (
        "server_error" if status >= 500 else "requests" if status == 429 else "invalid_request_error"
    )
    error_type = type_ or default_type
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _hang_up(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Closes the connection with no (further) answer; what is returned never reaches the client."""
    if request.transport is not None:  # None once the client hung up
        request.transport.close()
    return response if response is not None else web.Response(status=499)


async def _broken(request: web.Request, body: bytes, kind: str) -> web.StreamResponse:
    """`garble`: half the JSON, answered as if complete. `cut`: half of it, then the connection drops."""
    request[_BROKEN_ON_PURPOSE] = True
    half = body[: len(body) // 2]
    if kind == "garble":
        return web.Response(body=half, content_type="application/json")
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    await response.write(half)
    return _hang_up(request, response)


def _invalid(errors: list[ValidationError]) -> web.Response:
    """The 400 the real API answers a request it refuses, about the first problem found."""
    [first, *_] = errors
    param = str(first.path[0]) if first.path else None
    if param is None and first.validator == "required":
        param = next((name for name in first.validator_value if name not in first.instance), None)
    code = _ERROR_CODES.get(str(first.validator), "invalid_value")
    return _error(400, f"Invalid request: {openapi_schema.describe(first)}", code=code, param=param)


def _azure_content_filtered() -> web.Response:
    """Azure OpenAI's own content filter refusing a prompt: OpenAI's error object, with Azure's
    `inner_error` naming the policy and the filter's results per category."""
    categories = ("hate", "self_harm", "sexual", "violence")
    results = {
        name: {"filtered": name == "violence", "severity": "high" if name == "violence" else "safe"}
        for name in categories
    }
    body = {
        "error": {
            "code": "content_policy_violation",
            "message": "Your request was rejected as a result of our safety system. Your prompt may contain"
            " text that is not allowed by our safety system.",
            "param": None,
            "type": "invalid_request_error",
            "inner_error": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_results": results,
                "revised_prompt": None,
            },
        }
    }
    return web.json_response(body, status=400)


def _operation(request: web.Request) -> str:
    """The path as the OpenAPI description names it: "/v1/images/edits" -> "/images/edits", and
    Azure's "/openai/deployments/<deployment>/images/edits" too (Azure serves OpenAI's operations
    under the deployment's path, with the same bodies)."""
    return AZURE_PATH.sub("", request.path.removeprefix("/v1"))


def _usage() -> dict[str, Any]:
    return {
        "input_tokens": 50,
        "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
        "output_tokens": 1000,
        "total_tokens": 1050,
    }


class OpenAIImagesDouble:
    """In-process OpenAI Images + Moderations server on 127.0.0.1, port chosen by the OS."""

    def __init__(self) -> None:
        self.base_url = ""
        self.azure_endpoint = ""
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []  # where the traffic broke OpenAI's description, either way
        self._expected_violations = 0
        self.flag_prompts: set[str] = set()
        self._queue: deque[_Behaviour] = deque()
        self._moderation_faults: deque[str] = deque()  # apart: a script for images never hits moderation
        self._outage_until = 0.0
        self._outage_status: int | None = None
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        openapi_schema.spec()  # fails here, at once, when the description is missing
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._check_answer])
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_post("/v1/images/edits", self._images)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_post("/openai/deployments/{deployment}/images/generations", self._images)
        app.router.add_post("/openai/deployments/{deployment}/images/edits", self._images)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.azure_endpoint = f"http://127.0.0.1:{port}"  # an Azure OpenAI resource's endpoint

    async def close(self) -> None:
        self._closing.set()  # wakes hanging handlers so shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- checking against the description ---------------------------------------------------------
    def expect_violations(self, count: int) -> None:
        """For a test that breaks the description on purpose: `check_violations` then wants `count` more."""
        self._expected_violations += count

    def check_violations(self) -> None:
        """Fails the test unless the traffic broke the description exactly as often as announced."""
        if len(self.violations) != self._expected_violations:
            found = "\n".join(f"- {violation}" for violation in self.violations) or "- none"
            pytest.fail(
                f"the OpenAI double saw {len(self.violations)} breaches of OpenAI's OpenAPI description, "
                f"{self._expected_violations} expected:\n{found}",
                pytrace=False,
            )

    def _violated(self, where: str, errors: list[ValidationError]) -> None:
        self.violations.extend(f"{where}: {openapi_schema.describe(error)}" for error in errors)

    def _check_body(self, request: web.Request, status: int, body: Any) -> None:
        if AZURE_PATH.match(request.path) and isinstance(body, dict) and isinstance(body.get("error"), dict):
            # Azure's errors are OpenAI's with its own `inner_error`, which OpenAI's description lacks
            body = {**body, "error": {k: v for k, v in body["error"].items() if k != "inner_error"}}
        errors = openapi_schema.answer_errors(_operation(request), status, body)
        self._violated(f"answer {status} to {request.path}", errors)

    def _check_event(self, request: web.Request, data: dict[str, Any]) -> None:
        errors = openapi_schema.event_errors(_operation(request), data)
        self._violated(f"stream event {data.get('type')!r} of {request.path}", errors)

    @web.middleware
    async def _check_answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Checks every JSON answer, whoever made it (a subclass, a scripted failure). Streams are checked
        event by event as they are sent, and answers broken on purpose before they were broken."""
        response = await handler(request)
        unchecked = request.get(_BROKEN_ON_PURPOSE) or response.status == _GONE
        if not isinstance(response, web.Response) or response.prepared or unchecked:
            return response
        try:
            body = json.loads(response.body)
        except (TypeError, ValueError):
            self.violations.append(f"answer {response.status} to {request.path}: not a JSON body")
        else:
            self._check_body(request, response.status, body)
        return response

    # -- scripting -------------------------------------------------------------------------------
    def fail(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str = "error",
        times: int = 1,
        headers: dict[str, str] | None = None,
        prompt: str | None = None,
    ) -> None:
        behaviour = _Behaviour("fail", status=status, code=code, message=message, headers=headers or {})
        self._push(times, behaviour, prompt)

    def block(self, times: int = 1, *, prompt: str | None = None) -> None:
        self._push(times, _Behaviour("block"), prompt)

    def stream_error(self, times: int = 1, *, prompt: str | None = None) -> None:
        self._push(times, _Behaviour("stream_error"), prompt)

    def truncate_stream(self, times: int = 1, *, prompt: str | None = None) -> None:
        """A stream that ends cleanly after its previews, without the completed image."""
        self._push(times, _Behaviour("truncate_stream"), prompt)

    def malformed(self, times: int = 1, *, payload: str | None = None, prompt: str | None = None) -> None:
        """Answer 200 whose b64_json is `payload` (default: valid base64 of bytes that are no image)."""
        behaviour = _Behaviour("malformed", payload=payload or _b64(b"this is not an image"))
        self._push(times, behaviour, prompt)

    def hang(self, seconds: float, times: int = 1, *, prompt: str | None = None) -> None:
        self._push(times, _Behaviour("hang", seconds=seconds), prompt)

    def release_hangs(self) -> None:
        """Ends every hanging request now: each is answered as if it had not hung."""
        self._closing.set()
        self._closing.clear()

    def drip(self, every_s: float = 0.05, times: int = 1, *, prompt: str | None = None) -> None:
        """A stream that sends a preview every `every_s` and never completes: it never goes quiet
        long enough for a read timeout, so only a deadline on the whole generation ends it."""
        self._push(times, _Behaviour("drip", seconds=every_s), prompt)

    def reset(self, times: int = 1, *, prompt: str | None = None) -> None:
        """Close the connection without answering, as a reset or a dying proxy does."""
        self._push(times, _Behaviour("reset"), prompt)

    def garble(self, times: int = 1, *, prompt: str | None = None) -> None:
        """Answer 200 with JSON that does not parse (streamed: a completed event whose data does not)."""
        self._push(times, _Behaviour("garble"), prompt)

    def cut(self, times: int = 1, *, prompt: str | None = None) -> None:
        """Send half of the answer (streamed: the previews and half the completed event), then hang up."""
        self._push(times, _Behaviour("cut"), prompt)

    def break_moderation(self, kind: str, times: int = 1) -> None:
        """The next moderation answers: `garble` (half its JSON, as if whole), `cut` (half, then the
        connection drops) or `fail` (a 500)."""
        assert kind in ("garble", "cut", "fail")
        self._moderation_faults.extend([kind] * times)

    def outage(self, seconds: float, *, status: int | None = 503) -> None:
        """From now on for `seconds`, every images request is answered `status` (None: the connection
        is dropped). Queued behaviours wait for the requests after the outage. `outage(0)` ends it."""
        self._outage_until = time.monotonic() + seconds
        self._outage_status = status

    async def wait_until(self, condition: Callable[[], bool], limit_s: float = 20.0) -> None:
        """Waits until `condition` holds, checking it as each request arrives."""
        async with asyncio.timeout(limit_s), self._arrived:
            await self._arrived.wait_for(condition)

    def _push(self, times: int, behaviour: _Behaviour, prompt: str | None) -> None:
        self._queue.extend(replace(behaviour, prompt=prompt) for _ in range(times))

    def _take(self, prompt: str) -> _Behaviour | None:
        """The first queued behaviour meant for a request with this prompt."""
        for behaviour in self._queue:
            if behaviour.prompt is None or behaviour.prompt in prompt:
                self._queue.remove(behaviour)
                return behaviour
        return None

    # -- handlers --------------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> tuple[RecordedRequest, list[ValidationError]]:
        """Records the request; returns it with what the description finds wrong with it."""
        fields: dict[str, Any] = {}
        files: list[tuple[str, str, bytes]] = []
        if request.content_type == "multipart/form-data":
            parts: list[tuple[str, Any]] = []
            for part in await read_form(request):
                if part.filename is not None:
                    files.append((part.name, part.filename, part.data))
                    parts.append((part.name, openapi_schema.Upload(part.filename)))
                else:
                    fields[part.name] = part.text
                    parts.append((part.name, part.text))
            body: Any = openapi_schema.form_body(_operation(request), parts)
        else:
            fields = body = await request.json() if request.can_read_body else {}
        errors = openapi_schema.request_errors(_operation(request), body)
        self._violated(f"request to {request.path}", errors)
        recorded = RecordedRequest(request.path, fields, files, dict(request.headers))
        async with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()
        return recorded, errors

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        """OpenAI takes a bearer token; Azure its resource key in `api-key`, and an `api-version`."""
        if AZURE_PATH.match(request.path):
            return bool(request.headers.get("api-key", "").strip() and request.query.get("api-version"))
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and bool(token.strip())

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        recorded, invalid = await self._record(request)
        if not self._authorized(request):
            return _error(401, "Missing bearer authentication.", code="invalid_api_key")
        if invalid:
            recorded.fault = "invalid request"
            return _invalid(invalid)
        inputs = recorded.fields.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(item) for item in inputs or []]
        results = []
        for text in texts:
            flagged = any(word in text for word in self.flag_prompts)
            results.append(
                {
                    "flagged": flagged,
                    "categories": {name: flagged and name == "violence" for name in _CATEGORIES},
                    "category_scores": {
                        name: 0.97 if flagged and name == "violence" else 0.001 for name in _CATEGORIES
                    },
                    "category_applied_input_types": {name: ["text"] for name in _CATEGORIES},
                }
            )
        model = recorded.fields.get("model", "omni-moderation-latest")
        answer = {"id": f"modr-{len(self.requests)}", "model": model, "results": results}
        fault = self._moderation_faults.popleft() if self._moderation_faults else None
        if fault == "fail":
            return _error(500, "The server had an error.", code="server_error")
        if fault in ("garble", "cut"):
            return await _broken(request, json.dumps(answer).encode(), fault)
        return web.json_response(answer)

    async def _images(self, request: web.Request) -> web.StreamResponse:
        recorded, invalid = await self._record(request)
        if not self._authorized(request):
            return _error(401, "Missing bearer authentication.", code="invalid_api_key")
        if invalid:
            recorded.fault = "invalid request"
            return _invalid(invalid)
        fields = recorded.fields
        edit = request.path.endswith("/edits")
        if not fields.get("prompt"):
            return _error(400, "Missing required parameter: 'prompt'.", code="missing_required_parameter")
        size = str(fields.get("size") or "auto")  # valid by now: "auto" or WIDTHxHEIGHT
        width, _, height = ("1024x1024" if size == "auto" else size).partition("x")
        n = int(fields.get("n") or 1)
        partials = int(fields.get("partial_images") or 0)
        stream = fields.get("stream") in (True, "true")
        if time.monotonic() < self._outage_until:
            recorded.fault = "outage"
            if self._outage_status is None:
                return _hang_up(request)
            return _error(self._outage_status, "The service is temporarily unavailable.", code=None)
        behaviour = self._take(recorded.prompt)
        if behaviour is not None:
            recorded.fault = f"http {behaviour.status}" if behaviour.kind == "fail" else behaviour.kind
        if behaviour is not None and behaviour.kind == "reset":
            return _hang_up(request)
        if behaviour is not None and behaviour.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), behaviour.seconds)
            if request.transport is None:  # the client gave up waiting: nobody to answer
                return web.Response(status=499)
            behaviour = None
        if behaviour is not None and behaviour.kind == "fail":
            return _error(behaviour.status, behaviour.message, code=behaviour.code, headers=behaviour.headers)
        if behaviour is not None and behaviour.kind == "block" and AZURE_PATH.match(request.path):
            return _azure_content_filtered()
        if behaviour is not None and behaviour.kind == "block":
            return _error(
                400,
                "Your request was rejected by the safety system.",
                code="moderation_blocked",
                type_="image_generation_user_error",
            )
        if behaviour is not None and not stream and behaviour.kind in _STREAM_ONLY:
            return _error(
                400, f"double: {behaviour.kind} scripted for a non-streaming request", code="double"
            )

        malformed = behaviour.payload if behaviour is not None and behaviour.kind == "malformed" else None
        quality = str(fields.get("quality") or "auto")
        common = {"background": "opaque", "output_format": "png", "size": f"{width}x{height}"}
        # The final answer echoes a non-empty safety identifier (SDK: `ImagesResponse.safety_identifier`).
        echo = {"safety_identifier": fields["safety_identifier"]} if fields.get("safety_identifier") else {}
        colors = [((40 * i + 30) % 256, 120, 90) for i in range(n)]
        images = [malformed or _b64(png_bytes(int(width), int(height), colors[i])) for i in range(n)]
        broken = behaviour.kind if behaviour is not None and behaviour.kind in ("garble", "cut") else None
        if not stream:
            body = {
                "created": int(time.time()),
                **common,
                "quality": "medium" if quality == "auto" else quality,
                "data": [{"b64_json": image} for image in images],
                "usage": {**_usage(), "output_tokens_details": {"image_tokens": 1000, "text_tokens": 0}},
                **echo,
            }
            if broken is not None:
                self._check_body(request, 200, body)
                return await _broken(request, json.dumps(body).encode(), broken)
            return web.json_response(body)

        prefix = "image_edit" if edit else "image_generation"
        event_fields = {**common, "quality": quality, "created_at": int(time.time())}
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        if behaviour is not None and behaviour.kind == "drip":
            await self._drip(request, response, f"{prefix}.partial_image", event_fields, behaviour.seconds)
            return response
        for index in range(partials):
            partial = _b64(png_bytes(64, 64, (index * 60 % 255, 80, 80)))
            await self._send(
                request,
                response,
                f"{prefix}.partial_image",
                {**event_fields, "b64_json": partial, "partial_image_index": index},
            )
            if behaviour is not None and behaviour.kind == "stream_error":
                break
        if behaviour is not None and behaviour.kind == "stream_error":
            error = {
                "type": "server_error",
                "code": "server_error",
                "param": None,
                "message": "The server had an error while processing your request.",
            }
            await self._send(request, response, "error", {"error": error})
        elif broken is not None:
            completed = {
                **event_fields,
                "type": f"{prefix}.completed",
                "b64_json": images[0],
                "usage": _usage(),
            }
            self._check_event(request, completed)  # whole, before it is broken on purpose
            event = f"event: {prefix}.completed\ndata: {json.dumps(completed)}\n\n".encode()
            half = event[: len(event) // 2]
            if broken == "cut":
                await response.write(half)
                return _hang_up(request, response)
            await response.write(half + b"\n\n")
        elif behaviour is None or behaviour.kind == "malformed":
            completed = {**event_fields, "b64_json": images[0], "usage": _usage(), **echo}
            await self._send(request, response, f"{prefix}.completed", completed)
        await response.write_eof()
        return response

    async def _drip(
        self,
        request: web.Request,
        response: web.StreamResponse,
        event: str,
        fields: dict[str, Any],
        every_s: float,
    ) -> None:
        """Previews until the client hangs up or the double closes."""
        preview = _b64(png_bytes(64, 64))
        index = 0
        with contextlib.suppress(ConnectionError):
            while not self._closing.is_set():
                partial = {**fields, "b64_json": preview, "partial_image_index": index}
                await self._send(request, response, event, partial)
                index = (index + 1) % 3
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), every_s)

    async def _send(
        self, request: web.Request, response: web.StreamResponse, event: str, data: dict[str, Any]
    ) -> None:
        data = {"type": event, **data}
        self._check_event(request, data)
        await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


@pytest_asyncio.fixture
async def openai_double() -> AsyncIterator[OpenAIImagesDouble]:
    """A started double, closed after the test, which then fails if the traffic broke OpenAI's
    description (unless the test announced it with `expect_violations`)."""
    double = OpenAIImagesDouble()
    await double.start()
    try:
        yield double
    finally:
        await double.close()
    double.check_violations()
