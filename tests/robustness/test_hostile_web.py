"""The web server against strangers (issue 14, F3 and F7): bodies over a route's limit refused before
they are read, slow heads and bodies dropped, connections capped; deep or malformed JSON on the
Telegram webhook, as `bot/app.py` mounts it, answered 400 without a traceback (`no_crash`)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.web import TELEGRAM_UPDATE_MAX_BYTES, WebServer
from platforms.telegram.adapter import SECRET_HEADER
from tests.harness import harness_for, sqlite_target

CEILING_S = 20  # generous: what is waited for happens in well under a second
LIMIT = 1024
PATH = "/hook"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n\r\n"


@asynccontextmanager
async def server(tmp_path: Path, **options: Any) -> AsyncIterator[tuple[WebServer, list[bytes]]]:
    """A web server with one webhook (limit 1 KiB) that records the bodies it is handed."""
    received: list[bytes] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append(await request.read())
        return aiohttp.web.Response(text="taken")

    web = WebServer(host="127.0.0.1", port=0, **options)
    web.add_post(PATH, hook, max_body=LIMIT)
    await web.start()
    try:
        yield web, received
    finally:
        await web.stop()


async def exchange(port: int, sent: bytes, *, until: bytes = b"") -> bytes:
    """Sends `sent` on a new connection; reads until `until` arrives (by default: until the server
    closes the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        async with asyncio.timeout(CEILING_S):
            return await (reader.readuntil(until) if until else reader.read())
    finally:
        writer.close()
        await writer.wait_closed()


def head(length: int) -> bytes:
    return f"POST {PATH} HTTP/1.1\r\nHost: bot\r\nContent-Length: {length}\r\n\r\n".encode()


async def test_a_body_declared_over_the_limit_is_refused_before_any_of_it_is_sent(tmp_path: Path) -> None:
    async with server(tmp_path) as (web, received):
        answer = await exchange(web.port, head(24 * 1024 * 1024), until=b"\r\n")  # not one byte of the body

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert received == []


async def test_a_chunked_body_is_cut_off_at_the_limit_and_one_at_the_limit_is_taken(tmp_path: Path) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // 256):
            yield b"x" * 256

    async with server(tmp_path) as (web, received), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{web.port}{PATH}"
        async with http.post(url, data=chunks(64 * LIMIT)) as over:
            assert over.status == 413
        async with http.post(url, data=chunks(LIMIT)) as exact:
            assert exact.status == 200

    assert received == [b"x" * LIMIT]


async def test_a_slow_body_is_answered_408_and_its_connection_closed(tmp_path: Path) -> None:
    async with server(tmp_path, body_timeout_s=0.3) as (web, received):
        answer = await exchange(web.port, head(100) + b"only ten b", until=b"\r\n\r\n")  # 90 bytes missing

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"\r\nConnection: close\r\n" in answer
    assert received == []


async def test_a_connection_that_never_finishes_its_request_head_is_closed(tmp_path: Path) -> None:
    async with server(tmp_path, header_timeout_s=0.3) as (web, received):
        answer = await exchange(web.port, f"POST {PATH} HTTP/1.1\r\nHost: bot\r\n".encode())

    assert answer == b""  # closed without an answer
    assert received == []


async def test_connections_beyond_the_cap_are_refused_while_those_admitted_are_served(tmp_path: Path) -> None:
    async with server(tmp_path, max_connections=3) as (web, _):
        admitted = [await asyncio.open_connection("127.0.0.1", web.port) for _ in range(3)]
        refused = await exchange(web.port, b"")
        assert refused.startswith(b"HTTP/1.1 503 ")

        reader, writer = admitted[0]
        writer.write(HEALTHZ)
        async with asyncio.timeout(CEILING_S):
            assert (await reader.read()).startswith(b"HTTP/1.1 200 ")
        for _, other in admitted:
            other.close()
        for _ in range(round(CEILING_S / 0.01)):  # once the server has seen them close, all are served
            if (await exchange(web.port, HEALTHZ)).startswith(b"HTTP/1.1 200 "):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("a connection was refused after the others closed")


def nested(depth: int) -> bytes:
    return b'{"update_id": 1, "x": ' + b'{"x": ' * depth + b"1" + b"}" * depth + b"}"


async def test_deep_or_malformed_json_to_the_telegram_webhook_is_400(tmp_path: Path) -> None:
    secret = "hostile-web-secret"
    sections: dict[str, dict[str, Any]] = {
        "telegram": {
            "enabled": True,
            "token": "123456:TEST-token-never-used",
            "base_url": "http://127.0.0.1:9/bot",  # nothing is sent: the door is not started
            "mode": "webhook",
            "webhook_secret": secret,
        },
        "web": {"port": 0, "public_url": "https://bot.example.com"},
    }
    async with harness_for(sqlite_target(tmp_path), tmp_path, run_workers=False, **sections) as harness:
        web = harness.app.web
        assert web is not None
        await web.start()
        url = f"http://127.0.0.1:{web.port}/telegram/webhook"
        statuses = []
        async with aiohttp.ClientSession(headers={SECRET_HEADER: secret}) as http:
            for body in (
                nested(100),  # valid JSON, but nested past any update's depth
                nested(100_000),  # past Python's recursion limit
                b'{"update_id": 1, "message": {"text": "unterminated',
                b"\xff\xfe{}",
                json.dumps({"update_id": 1}).encode(),
                b"{" + b" " * TELEGRAM_UPDATE_MAX_BYTES + b"}",
            ):
                async with http.post(url, data=io.BytesIO(body)) as answer:
                    statuses.append(answer.status)

    assert statuses == [400, 400, 400, 400, 200, 413]
