"""What the privacy tests share: talking to the bot as a user, and reading everything it stored."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from core.db.models import Base, LedgerEntry
from core.generation.storage import EXPORTS, OUTPUTS, PREVIEWS, UPLOADS
from core.i18n import translate
from core.messages import ChatRef, Incoming, Reply, ReplyType
from tests.harness import Harness


def en(key: str, **params: object) -> str:
    return translate("en", key, **params)


async def say_in_group(harness: Harness, message: str, user: str = "alice") -> list[Reply]:
    incoming = Incoming(harness.user(user), ChatRef("test", "group", "g-100"), message)
    return await harness.app.core.dispatch(incoming)


async def accepted(harness: Harness, user: str = "alice") -> None:
    replies = await harness.say("/accept", user)
    assert not replies[0].error, replies[0].text


async def finished(harness: Harness, prompt: str, user: str = "alice") -> int:
    job = await harness.imagine(prompt, user)
    final = await harness.chat.wait_final(job)
    assert final.type == ReplyType.ACTIONS, final.text
    return job


async def account_id(harness: Harness, user: str = "alice") -> int:
    account = await harness.app.core.services.accounts.find("test", user)
    assert account is not None
    return account.id


async def database_text(harness: Harness) -> str:
    """Every row of every table, as text: what a look into the database would find."""
    lines: list[str] = []
    async with harness.app.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            lines.extend(repr(tuple(row)) for row in (await session.execute(select(table))).all())
    return "\n".join(lines)


def files_bytes(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder` (the data directory, the SQLite file and its log included)."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


async def stored_objects(harness: Harness) -> dict[str, bytes]:
    """Every image and export in the harness's storage, by key."""
    storage = harness.app.storage
    keys = [
        found.key
        for prefix in (OUTPUTS, UPLOADS, PREVIEWS, EXPORTS)
        async for page in storage.store.listing(prefix)
        for found in page
    ]
    return {key: await storage.read(key) for key in keys}


async def ledger_sum(harness: Harness, account: int) -> int:
    async with harness.app.db.transaction() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(LedgerEntry.account_id == account)
        )
    return int(total or 0)
