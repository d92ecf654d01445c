"""The internal analytics log: only for accounts that consented, and never carrying content.

Properties are whitelisted by name and value shape: short lower-case tokens, booleans and small
numbers. A prompt, an e-mail address or a file URL cannot take that shape, so it can never be stored.
"""

from __future__ import annotations

import re

from core import credits
from core.db.repositories import privacy as repo
from core.db.session import Database

PROPERTIES = frozenset({"command", "platform", "success", "tier", "ratio", "action"})
TOKEN = re.compile(r"^[a-z0-9][a-z0-9:._-]{0,23}$")
EVENT = re.compile(r"^[a-z_]{1,32}$")

Value = str | bool | int


def clean(properties: dict[str, Value]) -> dict[str, Value]:
    """The properties that may be stored; anything else is dropped."""
    kept: dict[str, Value] = {}
    for name, value in properties.items():
        if name not in PROPERTIES:
            continue
        if _allowed(value):
            kept[name] = value
    return kept


def _allowed(value: Value) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return 0 <= value < 10_000
    return bool(TOKEN.match(value))


class Analytics:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, account_id: int, event: str, properties: dict[str, Value]) -> bool:
        """Stores the event when the account consents at this moment; False otherwise."""
        if not EVENT.match(event):
            raise ValueError(f"not an event name: {event!r}")
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)  # as before any insert that references the account
            if not await repo.analytics_enabled(session, account_id):
                return False
            await repo.add_event(session, account_id, event, clean(properties))
        return True
