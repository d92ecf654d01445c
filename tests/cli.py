"""Running the real `image2bot` command line from tests: a bot that keeps serving, a console that
answers line by line, and `users show`."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_S = 60


@dataclass
class Served:
    """What a stopped bot process left: its exit code and its log."""

    returncode: int | None = None
    log: str = ""


@asynccontextmanager
async def serving(*args: str, cwd: Path, env: dict[str, str]) -> AsyncIterator[Served]:
    """`image2bot <args>` running until the block ends, then stopped with SIGTERM like a service."""
    process = await _spawn(args, cwd, env, stdin=asyncio.subprocess.DEVNULL)
    served = Served()
    try:
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await _finish(process)
        served.returncode, served.log = process.returncode, err.decode()


class Console:
    """`image2bot console --json` with its input kept open: say a line, read the next reply."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    def say(self, *lines: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write("".join(f"{line}\n" for line in lines).encode())

    async def reply(self) -> str:
        assert self._process.stdout is not None
        async with asyncio.timeout(TIMEOUT_S):
            return str(json.loads(await self._process.stdout.readline())["text"])


@asynccontextmanager
async def console(user: str, *, cwd: Path, env: dict[str, str]) -> AsyncIterator[Console]:
    """A console chat as `console:<user>`; the block's end closes its input and expects exit 0."""
    process = await _spawn(("console", "--user", user, "--json"), cwd, env, stdin=asyncio.subprocess.PIPE)
    try:
        yield Console(process)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        _, err = await _finish(process)
    assert process.returncode == 0, err.decode()


async def run(*args: str, cwd: Path, env: dict[str, str], stdin: str | None = None) -> tuple[int, str, str]:
    """`image2bot <args>` to completion, fed `stdin` when given: exit code, stdout, stderr."""
    process = await _spawn(
        args, cwd, env, stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE
    )
    out, err = await _finish(process, stdin.encode() if stdin is not None else None)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def users_show(identity: str, *, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    code, out, err = await run("users", "show", identity, "--json", cwd=cwd, env=env)
    assert code == 0, err
    return dict(json.loads(out))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _finish(process: asyncio.subprocess.Process, stdin: bytes | None = None) -> tuple[bytes, bytes]:
    """Its output once it has ended, within TIMEOUT_S; one that outlives that (or the test) is killed, so no
    failing test leaves a bot running behind it."""
    try:
        async with asyncio.timeout(TIMEOUT_S):
            return await process.communicate(stdin)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _spawn(
    args: tuple[str, ...], cwd: Path, env: dict[str, str], *, stdin: int
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
