"""Errors the user should read, and reference ids for the ones they should not."""

from __future__ import annotations

import secrets


class UserError(Exception):
    """A failure explained to the user in their language: catalog key `error.<code>` with `params`."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    def __repr__(self) -> str:
        return f"UserError({self.code!r})"


def new_reference() -> str:
    """A short id a user can quote to support; the same id is in the log line with the traceback."""
    return secrets.token_hex(4).upper()


class ChatUnreachable(Exception):
    """Raised by a door when its platform says a chat can no longer be reached (the user blocked the
    bot, left the group, deleted the chat). Nothing more is sent there until someone writes from it.

    `keep_pending`: the platform only allows replies after the user writes (a closed customer-service
    window): what waits is kept and delivered then, instead of given up."""

    def __init__(self, reason: str = "", *, keep_pending: bool = False) -> None:
        super().__init__(reason)
        self.keep_pending = keep_pending


class RetryLater(Exception):
    """Raised by a door when its platform asks to wait before the next send (a flood limit)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g}s")
        self.seconds = seconds
