"""`/export`: everything the service holds about an account, as `data.json` plus its images, in a ZIP.

Built in a temporary folder in a worker thread from the stored images, then kept in storage (so any
process can send it) for 24 hours. A ZIP larger than the chat platform accepts becomes a one-time
download link on the bot's web app when a public address is configured, else it is split into
several ZIPs that each fit.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect

from core import credits
from core.db.models import (
    AnalyticsEvent,
    ConsentRecord,
    InviteCode,
    Job,
    LedgerEntry,
    Payment,
    Subscription,
    SupportTicket,
)
from core.db.repositories import accounts as accounts_repo
from core.db.repositories import erasure
from core.db.repositories import groups as group_wallets
from core.db.repositories import privacy as repo
from core.db.repositories.support import audit
from core.db.session import Database
from core.db.types import utcnow
from core.errors import UserError
from core.generation.storage import MissingObject, Storage
from core.privacy import codes

EXPORT_INTERVAL = timedelta(hours=24)
KEEP_FOR = timedelta(hours=24)
DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024  # for a door that declares none
ENTRY_OVERHEAD = 200  # bytes a ZIP spends per file besides its data, generously
FORMAT = "image2bot-export/1"


@dataclass(frozen=True, slots=True)
class ExportResult:
    parts: list[str]  # the storage keys of the ZIPs to send (empty when `link` is set)
    link: str | None
    files: int  # images and uploads included
    size: int  # bytes, all parts together


class Exports:
    def __init__(self, db: Database, storage: Storage) -> None:
        self._db = db
        self._storage = storage
        self.upload_limits: dict[str, int] = {}  # platform -> largest file its door can send
        self.download_base: str | None = None  # public URL the one-time links start with

    async def for_user(self, account_id: int, platform: str) -> ExportResult:
        """At most once per 24 hours per account."""
        now = utcnow()
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)  # two /export at once: one builds, one is told to wait
            previous = (await repo.ensure_profile(session, account_id)).last_export_at
            if previous is not None and now - previous < EXPORT_INTERVAL:
                raise UserError("export_too_soon", wait=previous + EXPORT_INTERVAL - now)
            await repo.update_profile(session, account_id, last_export_at=now)
        try:
            return await self._build(
                account_id, actor="user", limit=self.upload_limits.get(platform, DEFAULT_UPLOAD_LIMIT)
            )
        except BaseException:
            async with self._db.transaction() as session:  # a failed export does not count
                await repo.update_profile(session, account_id, last_export_at=previous)
            raise

    async def for_operator(self, account_id: int, actor: str) -> str:
        """`image2bot admin export`: one ZIP, however large, with no waiting period; its storage key."""
        result = await self._build(account_id, actor=actor, limit=None)
        return result.parts[0]

    async def read(self, key: str) -> bytes:
        """An export's ZIP, by the key `for_operator` gave."""
        return await self._storage.read(key)

    async def claim_download(self, token: str) -> bytes | None:
        """The ZIP behind a one-time link, or None when the link is unknown, used or expired."""
        async with self._db.transaction() as session:
            export = await repo.export_for_download(session, codes.token_hash(token), utcnow())
            if export is None:
                return None
            await audit(
                session, actor="user", action="export_downloaded", account_id=export.account_id, details={}
            )
        try:
            return await self._storage.read(export.path)
        except MissingObject:
            return None

    async def _build(self, account_id: int, *, actor: str, limit: int | None) -> ExportResult:
        data, files = await self._collect(account_id)
        stem = f"export-{account_id}-{secrets.token_hex(6)}"
        with tempfile.TemporaryDirectory(prefix="image2bot-export-") as work:
            folder = Path(work)
            sources = await self._fetch(files, folder)
            data["files"] = [name for _, name in sources]
            payload = json.dumps(data, ensure_ascii=False, indent=2).encode()
            whole = folder / f"{stem}.zip"
            size = await asyncio.to_thread(write_zip, whole, payload, sources)
            link = None
            token_hash = None
            zips = [whole]
            if limit is not None and size > limit:
                if self.download_base:
                    token, token_hash = codes.new_token()
                    link = f"{self.download_base}/{token}"
                else:
                    zips = await asyncio.to_thread(write_parts, folder, stem, payload, sources, limit)
                    size = sum(part.stat().st_size for part in zips)
            keys = [await self._storage.save_export(path.name, path) for path in zips]
        now = utcnow()
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)
            for key in keys:
                await repo.add_export(
                    session, account_id=account_id, path=key, token_hash=token_hash, expires_at=now + KEEP_FOR
                )
            await audit(session, actor=actor, action="export", account_id=account_id, details={})
        return ExportResult(parts=[] if link else keys, link=link, files=len(sources), size=size)

    async def _fetch(self, names: list[str], folder: Path) -> list[tuple[Path, str]]:
        """Copies the stored files still kept into `folder`, one at a time (never all in memory)."""
        sources = []
        for name in names:
            try:
                data = await self._storage.read(name)
            except MissingObject:
                continue
            local = folder / f"file-{len(sources)}"
            await asyncio.to_thread(local.write_bytes, data)
            sources.append((local, name))
        return sources

    async def _collect(self, account_id: int) -> tuple[dict[str, Any], list[str]]:
        """data.json's content (only this account's rows, and those of accounts linked into it) and
        the stored files it mentions."""
        async with self._db.transaction() as session:
            merged = await repo.merged_accounts(session, account_id)
            account = await accounts_repo.get(session, account_id)
            assert account is not None
            balance = await credits.balance(session, account_id)
            identities = await accounts_repo.identities(session, account_id)
            profile = await repo.profile(session, account_id)
            own = [account_id]
            jobs: list[Job] = await erasure.rows_of(session, Job, own)
            tickets: list[SupportTicket] = await erasure.rows_of(session, SupportTicket, own)
            messages = await erasure.ticket_messages(session, [ticket.id for ticket in tickets])
            spends = await group_wallets.spends_of(session, [*own, *merged])
            data: dict[str, Any] = {
                "format": FORMAT,
                "exported_at": utcnow().isoformat(),
                "account": {
                    "id": account.id,
                    "created_at": account.created_at.isoformat(),
                    "language": account.language,
                    "balance": balance.as_dict(),
                    "frozen_reason": account.frozen_reason,
                    "linked_accounts": merged,
                },
                "profile": row(profile, omit={"account_id"}) if profile else None,
                "identities": [
                    {"platform": i.platform, "user_id": i.platform_user_id, "since": i.created_at.isoformat()}
                    for i in identities
                ],
                "consents": [row(r) for r in await erasure.rows_of(session, ConsentRecord, own)],
                "settings": dict(account.preferences or {}),
                "ledger": [row(r) for r in await erasure.rows_of(session, LedgerEntry, [*own, *merged])],
                # What group wallets paid for this member (the wallets stay the groups').
                "group_spends": [row(r, omit={"account_id"}) for r in spends],
                "payments": [row(r) for r in await erasure.rows_of(session, Payment, own)],
                "subscriptions": [row(r) for r in await erasure.rows_of(session, Subscription, own)],
                "invitation": [row(r) for r in await erasure.rows_of(session, InviteCode, own)],
                "jobs": [row(job) for job in jobs],
                "support_tickets": [
                    {
                        **row(ticket),
                        "messages": [
                            {
                                "from": "you" if message.author == "user" else "support",
                                "text": message.body,
                                "at": message.created_at.isoformat(),
                            }
                            for message in messages
                            if message.ticket_id == ticket.id
                        ],
                    }
                    for ticket in tickets
                ],
                "analytics_events": [row(r) for r in await erasure.rows_of(session, AnalyticsEvent, own)],
            }
        files = list(dict.fromkeys(path for job in jobs for path in [*job.outputs, *job.references]))
        return data, files


def row(obj: Any, omit: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """Every column of a row, JSON-ready."""
    columns = sa_inspect(obj).mapper.column_attrs
    return {c.key: _plain(getattr(obj, c.key)) for c in columns if c.key not in omit}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def write_zip(target: Path, payload: bytes | None, sources: list[tuple[Path, str]]) -> int:
    """Writes one ZIP (images stored as they are: PNG is already compressed); returns its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if payload is not None:
            archive.writestr("data.json", payload)
        for source, name in sources:
            archive.write(source, name, compress_type=zipfile.ZIP_STORED)
    partial.replace(target)
    return target.stat().st_size


def write_parts(
    folder: Path, stem: str, payload: bytes, sources: list[tuple[Path, str]], limit: int
) -> list[Path]:
    """Several ZIPs, each within `limit` (a single file larger than that gets a part of its own)."""
    groups: list[list[tuple[Path, str]]] = [[]]
    used = len(payload) + ENTRY_OVERHEAD
    for source, name in sources:
        need = source.stat().st_size + ENTRY_OVERHEAD + 2 * len(name)
        if used + need > limit and (groups[-1] or len(groups) == 1):  # part 1 always holds data.json
            groups.append([])
            used = 0
        groups[-1].append((source, name))
        used += need
    paths = []
    for index, group in enumerate(groups, start=1):
        path = folder / f"{stem}-part{index}.zip"
        write_zip(path, payload if index == 1 else None, group)
        paths.append(path)
    return paths
