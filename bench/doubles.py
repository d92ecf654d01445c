"""The local test doubles in a process of their own, so their CPU and their event loop are not the bot's.

`python -m bench.doubles [--openai-rate R --openai-window S] [--openai-latency S] [--openai-endpoints N]`
starts the Telegram Bot API, OpenAI Images (N of them, each with its own limit), Discord and WeCom
doubles of tests/fakes on 127.0.0.1, prints one JSON line
with their addresses, then serves until its standard input closes. A small control server lets the
benchmark feed Telegram updates and read what the doubles saw; every time it reports is
`time.monotonic()`, one clock for every process on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.discord_api import Call as DiscordCall
from tests.fakes.discord_api import DiscordDouble
from tests.fakes.discord_api import user as discord_user
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.fakes.telegram_api import EMPTY_POLL_SLEEP_S, TelegramBotAPIDouble
from tests.fakes.telegram_api import Call as TelegramCall
from tests.fakes.wecom_api import WeComAPIDouble

TELEGRAM_TOKEN = "123456:BENCH-token-for-the-double"
WECOM_CORP_ID = "wwbench0123456789"
WECOM_SECRET = "bench-app-secret"
GET_UPDATES_LIMIT = 100  # what the Bot API hands out per getUpdates unless asked for fewer
START_TIMEOUT_S = 30
WAIT_POLL_S = 0.05
ROOT = Path(__file__).resolve().parent.parent  # the doubles come from tests/fakes
DISCORD_ORIGINAL = re.compile(r"/webhooks/\d+/([^/]+)/messages/@original")


class BatchedTelegramDouble(TelegramBotAPIDouble):
    """Hands out pending updates at most `limit` (default 100) per getUpdates, as Telegram does, and
    counts the polls (a bot that polls has its Telegram door up)."""

    polls = 0

    async def _updates(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        self.polls += 1
        limit = int(fields.get("limit") or GET_UPDATES_LIMIT)
        batch: list[dict[str, Any]] = []
        try:
            batch.append(await asyncio.wait_for(self.updates.get(), timeout=EMPTY_POLL_SLEEP_S))
        except TimeoutError:
            return batch
        while len(batch) < limit and not self.updates.empty():
            batch.append(self.updates.get_nowait())
        return batch


class RateLimitedImagesDouble(OpenAIImagesDouble):
    """The images double behind a provider's limit: `rate` images per rolling `window_s` (429 with
    `retry-after` beyond), each accepted request answered after `latency_s`. One image per request."""

    def __init__(self, *, rate: int, window_s: float, latency_s: float) -> None:
        super().__init__()
        self.rate = rate
        self.window_s = window_s
        self.latency_s = latency_s
        self.accepted: list[float] = []
        self.rejected: list[float] = []
        self._window: deque[float] = deque()

    async def _images(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        if self.rate:
            while self._window and self._window[0] <= now - self.window_s:
                self._window.popleft()
            if len(self._window) >= self.rate:
                self.rejected.append(now)
                await request.read()
                retry_after = self._window[0] + self.window_s - now
                body = {
                    "error": {
                        "message": "Rate limit reached for images per minute.",
                        "type": "requests",
                        "param": None,
                        "code": "rate_limit_exceeded",
                    }
                }
                return web.json_response(body, status=429, headers={"retry-after": f"{retry_after:.3f}"})
            self._window.append(now)
        self.accepted.append(now)
        await asyncio.sleep(self.latency_s)
        return await super()._images(request)


@dataclass
class Doubles:
    telegram: BatchedTelegramDouble
    openai: RateLimitedImagesDouble
    discord: DiscordDouble
    wecom: WeComAPIDouble
    more_openai: list[RateLimitedImagesDouble] = field(default_factory=list)  # further endpoints
    _background: set[asyncio.Task[None]] = field(default_factory=set)  # scripted faults waiting their moment

    def addresses(self, control_port: int) -> dict[str, Any]:
        return {
            "control": f"http://127.0.0.1:{control_port}",
            "telegram": self.telegram.base_url,
            "openai": self.openai.base_url,
            "openai_endpoints": [double.base_url for double in (self.openai, *self.more_openai)],
            "discord": self.discord.api,
            "wecom": self.wecom.base_url,
        }

    def control_routes(self) -> web.RouteTableDef:
        routes = web.RouteTableDef()

        @routes.post("/telegram/updates")
        async def feed(request: web.Request) -> web.Response:
            updates = await request.json()
            at, wall = time.monotonic(), time.time()
            for update in updates:
                self.telegram.updates.put_nowait(update)
            return web.json_response({"at": at, "wall": wall})

        @routes.get("/telegram/wait")
        async def wait(request: web.Request) -> web.Response:
            """Until `count` calls of `method` whose text contains `text` were seen, or `timeout`
            seconds: how many were."""
            method, text, count = request.query["method"], request.query["text"], int(request.query["count"])
            with suppress(TimeoutError):
                async with asyncio.timeout(float(request.query["timeout"])):
                    await self._telegram_calls(method, text, count)
            return web.json_response({"seen": len(self._matching(self.telegram.calls, method, text))})

        @routes.get("/telegram/calls")
        async def calls(request: web.Request) -> web.Response:
            method = request.query["method"]
            found = [
                {
                    "chat_id": call.chat_id,
                    "at": call.at,
                    "text": call.fields.get("text"),
                    "ok": call.result is not None,
                }
                for call in self.telegram.calls
                if call.method == method
            ]
            return web.json_response(found)

        @routes.post("/telegram/flood")
        async def flood(request: web.Request) -> web.Response:
            """Once `after` sendMessage calls have arrived, the next one is answered 429 with
            `retry_after` seconds, as Telegram answers a flood."""
            asked = await request.json()
            scripted = self._flood(int(asked["after"]), int(asked["retry_after"]))
            self._background.add(asyncio.create_task(scripted))
            return web.json_response({})

        @routes.get("/telegram/polls")
        async def polls(_request: web.Request) -> web.Response:
            return web.json_response({"polls": self.telegram.polls, "pending": self.telegram.updates.qsize()})

        @routes.get("/openai/stats")
        async def stats(_request: web.Request) -> web.Response:
            endpoints = [self.openai, *self.more_openai]
            each = [{"accepted": double.accepted, "rejected": double.rejected} for double in endpoints]
            return web.json_response({**each[0], "endpoints": each})

        @routes.get("/discord/identified")
        async def identified(_request: web.Request) -> web.Response:
            return web.json_response({"identified": self.discord.identified.is_set()})

        @routes.post("/discord/imagine")
        async def discord_imagine(request: web.Request) -> web.Response:
            """`/imagine <prompt>` from each of `users` (ids), `each` times, sent over the gateway at once."""
            asked = await request.json()
            people = [discord_user(who, f"user{who}") for who in asked["users"]]
            burst = [
                self.discord.slash("imagine", {"prompt": f"{asked['prompt']} {take}"}, who=who)
                for take in range(int(asked["each"]))
                for who in people
            ]
            for interaction in burst:
                await self.discord.dispatch("INTERACTION_CREATE", interaction)
            return web.json_response({"sent": len(burst)})

        @routes.get("/discord/wait")
        async def discord_wait(request: web.Request) -> web.Response:
            """Until `count` interactions had their answer edited to contain `text`, or `timeout` seconds:
            how many had."""
            text, count = request.query["text"], int(request.query["count"])
            with suppress(TimeoutError):
                async with asyncio.timeout(float(request.query["timeout"])):
                    await self._discord_edits(text, count)
            return web.json_response({"seen": len(self._discord_edited(text))})

        @routes.get("/discord/interactions")
        async def discord_interactions(request: web.Request) -> web.Response:
            """Each interaction sent: when, its first callback (when, type, status) and when its answer
            was first edited to contain `text`."""
            acks = self.discord.acknowledgements()
            edited = self._discord_edited(request.query["text"])
            found = [
                {
                    "sent": sent,
                    "ack": acks[token].at if token in acks else None,
                    "ack_type": acks[token].body["type"] if token in acks else None,
                    "ack_status": acks[token].status if token in acks else None,
                    "edited": edited.get(token),
                }
                for token, sent in self.discord.dispatched.items()
            ]
            return web.json_response(found)

        return routes

    async def _flood(self, after: int, retry_after: int) -> None:
        await self._telegram_calls("sendMessage", "", after)
        self.telegram.fail_next(
            "sendMessage", 429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )

    async def _telegram_calls(self, method: str, text: str, count: int) -> None:
        """Until `count` calls match, looking at each call once as they come."""
        seen, looked = 0, 0
        while True:
            calls = self.telegram.calls
            seen += len(self._matching(calls[looked:], method, text))
            looked = len(calls)
            if seen >= count:
                return
            await asyncio.sleep(WAIT_POLL_S)

    async def _discord_edits(self, text: str, count: int) -> None:
        """Until `count` interactions had their answer edited to contain `text`, looking at each call
        once as they come."""
        edited: dict[str, float] = {}
        looked = 0
        while True:
            calls = self.discord.calls
            edited.update(self._discord_edited(text, calls[looked:]))
            looked = len(calls)
            if len(edited) >= count:
                return
            await asyncio.sleep(WAIT_POLL_S)

    def _discord_edited(self, text: str, calls: list[DiscordCall] | None = None) -> dict[str, float]:
        """Interaction token -> when its answer was first edited to contain `text`."""
        edited: dict[str, float] = {}
        for call in self.discord.calls if calls is None else calls:
            content = (call.body or {}).get("content") or "" if call.method == "PATCH" else ""
            match = DISCORD_ORIGINAL.fullmatch(call.path)
            if match is not None and call.status < 300 and text in content:
                edited.setdefault(match[1], call.at)
        return edited

    @staticmethod
    def _matching(calls: list[TelegramCall], method: str, text: str) -> list[TelegramCall]:
        return [call for call in calls if call.method == method and text in (call.fields.get("text") or "")]


async def serve(args: argparse.Namespace) -> None:
    # A bot that stops while an answer is on its way (a 20 s picture) is expected, not an error here.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    doubles = Doubles(
        telegram=BatchedTelegramDouble(TELEGRAM_TOKEN),
        openai=RateLimitedImagesDouble(
            rate=args.openai_rate, window_s=args.openai_window, latency_s=args.openai_latency
        ),
        discord=DiscordDouble(),
        wecom=WeComAPIDouble(WECOM_CORP_ID, WECOM_SECRET),
        more_openai=[
            RateLimitedImagesDouble(
                rate=args.openai_rate, window_s=args.openai_window, latency_s=args.openai_latency
            )
            for _ in range(args.openai_endpoints - 1)
        ],
    )
    await doubles.telegram.start()
    for openai in (doubles.openai, *doubles.more_openai):
        await openai.start()
    await doubles.discord.start()
    await doubles.wecom.start()
    control = web.Application()
    control.add_routes(doubles.control_routes())
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(json.dumps(doubles.addresses(int(runner.addresses[0][1]))), flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)  # the benchmark closes it when done, or exits
    finally:
        await runner.cleanup()
        await doubles.wecom.stop()
        await doubles.discord.close()
        for openai in (doubles.openai, *doubles.more_openai):
            await openai.close()
        await doubles.telegram.stop()


@dataclass
class RemoteDoubles:
    """The benchmark's handle on the doubles process."""

    urls: dict[str, Any]  # each double's address; `openai_endpoints`: every images double's
    http: aiohttp.ClientSession

    async def feed_telegram(self, updates: list[dict[str, Any]]) -> tuple[float, float]:
        """Queues the updates at once; returns when they became available (monotonic, and epoch)."""
        async with self.http.post(f"{self.urls['control']}/telegram/updates", json=updates) as answer:
            found = await answer.json()
            return float(found["at"]), float(found["wall"])

    async def wait_telegram(self, method: str, text: str, count: int, timeout_s: float) -> int:
        """Waits (in the doubles' process) for `count` calls of `method` whose text contains `text`;
        returns how many there were."""
        query = {"method": method, "text": text, "count": str(count), "timeout": str(timeout_s)}
        async with self.http.get(
            f"{self.urls['control']}/telegram/wait",
            params=query,
            timeout=aiohttp.ClientTimeout(total=timeout_s + 30),
        ) as answer:
            return int((await answer.json())["seen"])

    async def flood_telegram(self, after: int, retry_after: int) -> None:
        """Telegram's 429 for the sendMessage after the first `after` ones."""
        async with self.http.post(
            f"{self.urls['control']}/telegram/flood", json={"after": after, "retry_after": retry_after}
        ):
            pass

    async def telegram_calls(self, method: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.urls['control']}/telegram/calls", params={"method": method}) as got:
            return list(await got.json())

    async def openai_stats(self) -> dict[str, Any]:
        """`accepted` and `rejected` request times of the first images double; `endpoints`: of each."""
        async with self.http.get(f"{self.urls['control']}/openai/stats") as answer:
            return dict(await answer.json())

    async def telegram_polls(self) -> tuple[int, int]:
        """(getUpdates calls so far, updates not handed out yet)."""
        async with self.http.get(f"{self.urls['control']}/telegram/polls") as answer:
            found = await answer.json()
            return int(found["polls"]), int(found["pending"])

    async def discord_identified(self) -> bool:
        async with self.http.get(f"{self.urls['control']}/discord/identified") as answer:
            return bool((await answer.json())["identified"])

    async def discord_imagine(self, users: list[int], each: int, prompt: str) -> int:
        """Sends `/imagine` from every user `each` times over the gateway at once; how many were sent."""
        asked = {"users": users, "each": each, "prompt": prompt}
        async with self.http.post(f"{self.urls['control']}/discord/imagine", json=asked) as answer:
            return int((await answer.json())["sent"])

    async def wait_discord_edited(self, text: str, count: int, timeout_s: float) -> int:
        query = {"text": text, "count": str(count), "timeout": str(timeout_s)}
        async with self.http.get(
            f"{self.urls['control']}/discord/wait",
            params=query,
            timeout=aiohttp.ClientTimeout(total=timeout_s + 30),
        ) as answer:
            return int((await answer.json())["seen"])

    async def discord_interactions(self, text: str) -> list[dict[str, Any]]:
        """Per interaction sent: `sent`, `ack` (first callback), `ack_type`, `ack_status`, `edited`
        (answer first edited to contain `text`); times on the doubles' monotonic clock."""
        async with self.http.get(
            f"{self.urls['control']}/discord/interactions", params={"text": text}
        ) as answer:
            return list(await answer.json())


@asynccontextmanager
async def remote_doubles(
    *,
    openai_rate: int = 0,
    openai_window_s: float = 60.0,
    openai_latency_s: float = 0.0,
    openai_endpoints: int = 1,
) -> AsyncIterator[RemoteDoubles]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.doubles",
        "--openai-rate",
        str(openai_rate),
        "--openai-window",
        str(openai_window_s),
        "--openai-latency",
        str(openai_latency_s),
        "--openai-endpoints",
        str(openai_endpoints),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            urls = json.loads(await process.stdout.readline())
        async with aiohttp.ClientSession() as http:
            yield RemoteDoubles(urls, http)
    finally:
        process.stdin.close()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="the test doubles, served for the benchmark")
    parser.add_argument("--openai-rate", type=int, default=0, help="images per window; 0: unlimited")
    parser.add_argument("--openai-window", type=float, default=60.0)
    parser.add_argument("--openai-latency", type=float, default=0.0)
    parser.add_argument("--openai-endpoints", type=int, default=1, help="images doubles, each limited alike")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
