"""The object store as a folder on the local disk (the default): a key is a path under the folder."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.generation.storage import PAGE, MissingObject, StoredObject

FOLDERS = ("outputs", "uploads", "previews")


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The file behind a key; a key never leaves the folder."""
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError("not a storage key")
        return self.root / key

    def location(self, key: str) -> str:
        return str(self.path(key))

    async def prepare(self) -> None:
        def make() -> None:
            for folder in FOLDERS:
                (self.root / folder).mkdir(parents=True, exist_ok=True)

        await asyncio.to_thread(make)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(_atomically, self.path(key), lambda part: part.write_bytes(data))

    async def put_file(self, key: str, source: Path) -> None:
        await asyncio.to_thread(_atomically, self.path(key), lambda part: shutil.copyfile(source, part))

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MissingObject(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def delete(self, keys: Sequence[str]) -> int:
        paths = [self.path(key) for key in keys]
        return await asyncio.to_thread(_remove, paths)

    async def listing(self, prefix: str) -> AsyncIterator[list[StoredObject]]:
        """One folder is read (the one the prefix names), in key order."""
        folder, _, start = prefix.rpartition("/")
        found = await asyncio.to_thread(_list, self.root, folder, start)
        for first in range(0, len(found), PAGE):
            yield found[first : first + PAGE]


def _list(root: Path, folder: str, start: str) -> list[StoredObject]:
    directory = root / folder if folder else root
    if not directory.is_dir():
        return []
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(start) and not entry.name.endswith(".part") and entry.is_file():
                stat = entry.stat()
                key = f"{folder}/{entry.name}" if folder else entry.name
                found.append(StoredObject(key, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size))
    return sorted(found, key=lambda stored: stored.key)


def _remove(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _atomically(target: Path, fill: Callable[[Path], object]) -> None:
    """Readers see the whole file or none; two writers of the same reference each use their own part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f"{target.suffix}.{secrets.token_hex(4)}.part")
    fill(temporary)
    temporary.replace(target)
