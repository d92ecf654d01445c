"""Images and exports by key, in an object store: uploaded references, previews, outputs and ZIPs.

Every stored file has a key such as `outputs/job-7-1.png`; jobs and exports record keys, never
paths, and doors receive keys in their replies, so a process on another machine reads what a worker
stored. The store behind the keys is a local folder (`core.generation.folder_store`, the default)
or an S3-compatible bucket (`core.generation.s3_store`), chosen in `[storage]` by `bot/app.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

MAX_PREVIEWS = 3  # partial images per job: the most `generation.partial_images` allows
OUTPUTS = "outputs/"
UPLOADS = "uploads/"
PREVIEWS = "previews/"
EXPORTS = "exports/"
PAGE = 1000  # keys per listing page and per delete request: S3's own ceiling for both


class MissingObject(LookupError):
    """The key names nothing (never stored, or deleted since)."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    modified: datetime  # aware, UTC
    size: int


class ObjectStore(Protocol):
    """Bytes by key. Implementations keep blocking I/O off the event loop."""

    async def prepare(self) -> None:
        """Checks (or creates) what the store needs before the first write."""
        ...

    async def put(self, key: str, data: bytes) -> None:
        """Readers see the whole object or none."""
        ...

    async def put_file(self, key: str, source: Path) -> None:
        """Stores a local file (a ZIP, possibly large) without reading it into memory at once."""
        ...

    async def get(self, key: str) -> bytes:
        """Raises MissingObject when there is none."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, keys: Sequence[str]) -> int:
        """Removes these objects (a missing one is no error); returns how many there were."""
        ...

    def listing(self, prefix: str) -> AsyncIterator[list[StoredObject]]:
        """The objects whose key starts with `prefix`, in pages of at most PAGE, in key order."""
        ...

    def location(self, key: str) -> str:
        """Where a person finds the object: a file's path, or the object's s3:// address."""
        ...


class Storage:
    """Where a job's images and an account's exports are kept, named so that no folder needs
    listing to find a job's files."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def prepare(self) -> None:
        await self.store.prepare()

    async def read(self, key: str) -> bytes:
        return await self.store.get(key)

    async def exists(self, key: str) -> bool:
        return await self.store.exists(key)

    def location(self, key: str) -> str:
        return self.store.location(key)

    async def save_reference(self, png: bytes) -> str:
        """Stores a reference already made PNG (`core.generation.references`), named by its content."""
        key = f"{UPLOADS}{hashlib.sha256(png).hexdigest()[:32]}.png"
        if not await self.store.exists(key):
            await self.store.put(key, png)
        return key

    async def save_output(self, job_id: int, index: int, png: bytes) -> str:
        key = f"{OUTPUTS}job-{job_id}-{index + 1}.png"
        await self.store.put(key, png)
        return key

    async def save_preview(self, job_id: int, index: int, image_bytes: bytes) -> str:
        key = f"{PREVIEWS}job-{job_id}-partial-{index + 1}.png"
        await self.store.put(key, image_bytes)
        return key

    async def save_export(self, name: str, source: Path) -> str:
        key = f"{EXPORTS}{name}"
        await self.store.put_file(key, source)
        return key

    @staticmethod
    def job_files(job_id: int, n: int) -> list[str]:
        """The keys a job's images may have, without listing: its `n` outputs and its previews (the
        retention purge sweeps up any other object named after a job that no longer exists)."""
        outputs = [f"{OUTPUTS}job-{job_id}-{index}.png" for index in range(1, n + 1)]
        previews = [f"{PREVIEWS}job-{job_id}-partial-{index}.png" for index in range(1, MAX_PREVIEWS + 1)]
        return outputs + previews

    @staticmethod
    def exports_of(account_id: int) -> str:
        """What every export of an account is named after: a prefix, recorded as `<prefix>*`."""
        return f"{EXPORTS}export-{account_id}-*"

    async def remove(self, names: Sequence[str]) -> int:
        """Removes these objects; a name ending in `*` stands for every key it starts (exports).
        Returns how many there were."""
        removed = 0
        exact = [name for name in names if not name.endswith("*")]
        for start in range(0, len(exact), PAGE):
            removed += await self.store.delete(exact[start : start + PAGE])
        for name in names:
            if name.endswith("*"):
                async for page in self.store.listing(name[:-1]):
                    removed += await self.store.delete([found.key for found in page])
        return removed
