"""The console door: chat with the bot on stdin/stdout, as identity `console:<user>`.

Lines are read by a daemon thread (so a blocked read never holds up shutdown) and handled one at a
time. When the input is not a terminal, the adapter waits at end of input until every job it
started has sent its final reply, then returns, so scripts can pipe commands in and read results.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import TextIO

from core.commands.router import Core
from core.errors import UserError
from core.messages import Attachment, ChatRef, Incoming, Reply, Stage, UserRef
from platforms.base import Capabilities
from platforms.console import render

_REF = re.compile(r"""(?<!\S)--ref(?:=|\s+)("[^"]*"|'[^']*'|\S+)""")
_EOF = None
PROMPT = "> "


class ConsoleAdapter:
    name = "console"
    capabilities = Capabilities(edit_messages=False, buttons=False, max_upload_bytes=1 << 40)

    def __init__(
        self,
        core: Core,
        *,
        user: str,
        json_output: bool = False,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        interactive: bool | None = None,
        locale: str | None = None,
    ) -> None:
        self._core = core
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._json = json_output
        self._interactive = self._stdin.isatty() if interactive is None else interactive
        self.user = UserRef("console", user, display_name=user, locale=locale)
        self.chat = ChatRef("console", "private", user)
        self._pending: set[int] = set()
        self._finished: set[int] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopped = asyncio.Event()
        self._prompt_shown = False

    @property
    def connected(self) -> bool:
        return True  # the terminal is always there

    async def start(self) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._read_lines, args=(loop, lines), daemon=True, name="console-input"
        ).start()
        while not self._stopped.is_set():
            self._prompt()
            line = await self._next(lines)
            self._prompt_shown = False
            if line is _EOF:
                break
            if line.strip():
                await self.handle(line.strip())
        if not self._interactive:
            await self._idle.wait()

    async def stop(self) -> None:
        self._stopped.set()

    async def handle(self, line: str) -> None:
        for reply in await self._core.dispatch(self._incoming(line)):
            self._track(reply)
            self._write(reply)

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        if chat.chat_id != self.chat.chat_id:
            return  # another console user's chat: not shown in this terminal
        self._track(reply)
        self._write(reply)

    def _incoming(self, line: str) -> Incoming:
        attachments = tuple(_file_attachment(_unquote(match)) for match in _REF.findall(line))
        return Incoming(
            self.user,
            self.chat,
            _REF.sub("", line).strip(),
            attachments,
            shows_buttons=self.capabilities.buttons,
        )

    def _track(self, reply: Reply) -> None:
        if reply.job is None:
            return
        if reply.final:
            self._finished.add(reply.job)
            self._pending.discard(reply.job)
        elif reply.stage == Stage.QUEUED and reply.job not in self._finished:
            self._pending.add(reply.job)
        if self._pending:
            self._idle.clear()
        else:
            self._idle.set()

    def _write(self, reply: Reply) -> None:
        """Prints a reply; one that arrives while the user is at the prompt goes above a fresh prompt."""
        interrupting = self._prompt_shown
        if interrupting:
            self._stdout.write("\r\033[K")
        self._stdout.write(
            (render.as_json(reply) if self._json else render.as_text(reply, self._core.media_location)) + "\n"
        )
        if interrupting:
            self._stdout.write(PROMPT)
        self._stdout.flush()

    def _prompt(self) -> None:
        if self._interactive and not self._json:
            self._stdout.write(PROMPT)
            self._stdout.flush()
            self._prompt_shown = True

    async def _next(self, lines: asyncio.Queue[str | None]) -> str | None:
        getter = asyncio.ensure_future(lines.get())
        stopper = asyncio.ensure_future(self._stopped.wait())
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (getter, stopper):
            if task not in done:
                task.cancel()
        return getter.result() if getter in done else _EOF

    def _read_lines(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
        try:
            for line in self._stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
        finally:
            with suppress(RuntimeError):  # the loop is closed: the process is exiting anyway
                loop.call_soon_threadsafe(lines.put_nowait, _EOF)


def _file_attachment(path_text: str) -> Attachment:
    """A file named with `--ref`. Only a regular file is read, and no further than the size it had
    when named: the core refuses that size when over its limit before anything is read, as for an
    upload whose size the platform declares (a device such as /dev/zero, or a pipe, has none)."""
    path = Path(os.path.expanduser(path_text))
    try:
        status = path.stat()
    except (OSError, ValueError):  # missing, or a name the system cannot even look up
        status = None
    size = status.st_size if status is not None and stat.S_ISREG(status.st_mode) else None

    async def fetch() -> bytes:
        if size is None:
            raise UserError("reference_unreadable", name=path.name)
        return await asyncio.to_thread(_read_regular, path, size, path.name)

    return Attachment(name=path.name, fetch=fetch, size=size)


def _read_regular(path: Path, size: int, name: str) -> bytes:
    """The file's `size` bytes; refused when it is no longer a regular file of that size (replaced
    or growing since it was named). Never blocks on a pipe put in its place."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise UserError("reference_unreadable", name=name)
        data = file.read(size + 1)
    if len(data) != size:
        raise UserError("reference_unreadable", name=name)
    return data


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value
