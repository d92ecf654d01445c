"""7. Hostile web: what an unsigned 24 MB POST to `/wecom/callback` costs a real `image2bot` web process.

`python -m bot run --role web` starts as a subprocess on SQLite with WeCom enabled, on 127.0.0.1.
Then, ROUNDS times one after the other, a 24 MB body of empty XML elements (the body that blocked the
event loop for 16 s in issue 14) is posted with a current timestamp and a made-up signature: first with
its Content-Length, then chunked (no length: the server has to count). The time to 413 runs from the
first byte sent to the status line received; the whole body is sent all the same, as an attacker would.
All the while another connection asks `/healthz` every POLL_S and records each answer's latency.
RSS growth is the process's peak (VmHWM, reset just before the posts) minus its VmRSS before them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import Figure, free_port, ms, process_memory, start_bot, stop_bot, until_up

ROUNDS = 5  # of each kind of POST
BODY = b"<xml>" + b"<a/>" * (6 * 1024 * 1024) + b"</xml>"  # 24 MB
CHUNK = 64 * 1024
POLL_S = 0.02
ANSWER_TIMEOUT_S = 30
REFUSAL_TARGET_S = 0.1
HEALTHZ_TARGET_S = 0.2
GROWTH_TARGET_MB = 50
WECOM_AES_KEY = "benchAESkey0123456789abcdefghijklmnopqrstuv"


async def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        log_path = Path(tmp) / "bot.log"
        with log_path.open("wb") as log:
            process = await start_bot(
                "run", "--role", "web", cwd=tmp, env=_environment(Path(tmp), port), log=log
            )
            try:
                await _until_healthy(process, port, log_path)
                idle_kb = process_memory(process.pid)[0]
                _reset_peak(process.pid)
                refusals, healthz = await _attack(port)
                peak_kb = process_memory(process.pid)[1]
            finally:
                await stop_bot(process)
    return _figures(refusals, healthz, (peak_kb - idle_kb) / 1024, idle_kb / 1024)


async def _attack(port: int) -> tuple[dict[str, list[float]], list[float]]:
    """The hostile POSTs, one after the other, while /healthz is polled; their latencies."""
    latencies: list[float] = []
    done = asyncio.Event()
    poller = asyncio.create_task(_poll_healthz(port, latencies, done))
    refusals: dict[str, list[float]] = {"length": [], "chunked": []}
    try:
        for _ in range(ROUNDS):
            for kind in refusals:
                refusals[kind].append(await _hostile_post(port, chunked=kind == "chunked"))
    finally:
        done.set()
        await poller
    return refusals, latencies


async def _hostile_post(port: int, *, chunked: bool) -> float:
    """Seconds from the first byte of an unsigned 24 MB POST to its status line (which must be 413).
    The whole body is sent all the same, until the server closes the connection."""
    query = f"msg_signature={secrets.token_hex(20)}&timestamp={int(time.time())}&nonce=bench"
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(BODY)}"
    head = f"POST /wecom/callback?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.perf_counter()
    writer.write(head)
    sending = asyncio.create_task(_send_body(writer, chunked=chunked))
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            status = await reader.readline()
            elapsed = time.perf_counter() - start
            with contextlib.suppress(ConnectionError):
                await sending
    finally:
        sending.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if not status.startswith(b"HTTP/1.1 413 "):
        raise RuntimeError(f"a 24 MB unsigned POST was answered {status!r}, not 413")
    return elapsed


async def _send_body(writer: asyncio.StreamWriter, *, chunked: bool) -> None:
    for offset in range(0, len(BODY), CHUNK):
        piece = BODY[offset : offset + CHUNK]
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _poll_healthz(port: int, latencies: list[float], done: asyncio.Event) -> None:
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as http:
        while not done.is_set():
            start = time.perf_counter()
            async with http.get(url) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"/healthz answered {answer.status} during the attack")
                await answer.read()
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(POLL_S)


def _figures(
    refusals: dict[str, list[float]], healthz: list[float], growth_mb: float, idle_mb: float
) -> list[Figure]:
    slowest = {kind: max(times) for kind, times in refusals.items()}
    return [
        *(
            Figure(
                key=f"hostile_web_413_{kind}",
                title=f"7. Hostile web: unsigned 24 MB POST ({label}) to /wecom/callback, time to 413 (max)",
                value=ms(slowest[kind]),
                target=f"< {REFUSAL_TARGET_S * 1000:.0f} ms",
                met=slowest[kind] < REFUSAL_TARGET_S,
                details={"seconds": refusals[kind]},
            )
            for kind, label in (("length", "with its length"), ("chunked", "chunked"))
        ),
        Figure(
            key="hostile_web_healthz",
            title="   /healthz meanwhile, slowest answer",
            value=f"{ms(max(healthz))} ({len(healthz)} answers)",
            target=f"< {HEALTHZ_TARGET_S * 1000:.0f} ms",
            met=max(healthz) < HEALTHZ_TARGET_S,
            details={"seconds": healthz},
        ),
        Figure(
            key="hostile_web_rss",
            title=f"   RSS growth of the web process over {2 * ROUNDS} such POSTs (peak)",
            value=f"{growth_mb:.1f} MB",
            target=f"< {GROWTH_TARGET_MB} MB",
            met=growth_mb < GROWTH_TARGET_MB,
            details={"growth_mb": growth_mb, "idle_rss_mb": idle_mb},
        ),
    ]


def _environment(data_dir: Path, port: int) -> dict[str, str]:
    kept = {key: value for key, value in os.environ.items() if not key.startswith(("IMAGE2BOT_", "OPENAI_"))}
    return {
        **kept,
        "IMAGE2BOT_DATABASE__URL": f"sqlite+aiosqlite:///{data_dir / 'image2bot.db'}",
        "IMAGE2BOT_WEB__HOST": "127.0.0.1",
        "IMAGE2BOT_WEB__PORT": str(port),
        "IMAGE2BOT_WECOM__ENABLED": "true",
        "IMAGE2BOT_WECOM__CORP_ID": "wwbench0123456789",
        "IMAGE2BOT_WECOM__AGENT_ID": "1000002",
        "IMAGE2BOT_WECOM__SECRET": "bench-app-secret",
        "IMAGE2BOT_WECOM__TOKEN": "benchCallbackToken",
        "IMAGE2BOT_WECOM__ENCODING_AES_KEY": WECOM_AES_KEY,
        "IMAGE2BOT_WECOM__API_BASE_URL": "http://127.0.0.1:9/cgi-bin/",  # never called: no kf, no sends
    }


async def _until_healthy(process: asyncio.subprocess.Process, port: int, log: Path) -> None:
    async with aiohttp.ClientSession() as http:
        await until_up(process, log, lambda: _healthy(http, port), "the web process did not come up")


async def _healthy(http: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
            return answer.status == 200
    except aiohttp.ClientConnectionError:
        return False


def _reset_peak(pid: int) -> None:
    """The process's VmHWM starts again from its current RSS (Linux's clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
