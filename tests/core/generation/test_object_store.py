"""Both object stores keep the same promises: the local folder, and an S3 bucket on a real
S3-compatible server (moto's, started by the tests)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from bot.config import StorageSettings
from bot.storage import build_storage
from core.generation import folder_store, s3_store
from core.generation.storage import MissingObject, ObjectStore, Storage
from tests.object_store import bucket_keys

LARGE = 12 * 1024 * 1024  # over boto3's 8 MB threshold: uploaded as a multipart upload


@pytest_asyncio.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    extra: dict[str, Any] = request.getfixturevalue("s3_storage") if request.param == "s3" else {}
    built = build_storage(StorageSettings(data_dir=tmp_path / "data", **extra))
    await built.prepare()
    yield built


async def keys(store: ObjectStore, prefix: str) -> list[list[str]]:
    return [[found.key for found in page] async for page in store.listing(prefix)]


async def test_an_object_reads_back_as_written_and_a_missing_one_says_so(storage: Storage) -> None:
    key = await storage.save_output(7, 0, b"\x89PNG picture")
    assert key == "outputs/job-7-1.png"
    assert await storage.read(key) == b"\x89PNG picture"
    assert await storage.exists(key)
    await storage.save_output(7, 0, b"\x89PNG drawn again")
    assert await storage.read(key) == b"\x89PNG drawn again"  # a retry replaces its own output
    with pytest.raises(MissingObject):
        await storage.read("outputs/job-8-1.png")
    assert not await storage.exists("outputs/job-8-1.png")


async def test_a_reference_is_named_by_its_content_and_stored_once(storage: Storage) -> None:
    first = await storage.save_reference(b"same picture")
    assert first == await storage.save_reference(b"same picture")
    assert first.startswith("uploads/")
    assert first.endswith(".png")
    assert first != await storage.save_reference(b"another picture")
    assert sum(map(len, await keys(storage.store, "uploads/"))) == 2


async def test_listing_finds_a_prefix_page_by_page_in_key_order(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_store, "PAGE", 2)
    monkeypatch.setattr(folder_store, "PAGE", 2)
    before = datetime.now(UTC) - timedelta(seconds=5)
    for job in (3, 1, 2, 12):
        await storage.save_output(job, 0, b"x" * job)
    await storage.save_preview(1, 0, b"preview")
    pages = await keys(storage.store, "outputs/job-1")
    assert pages == [["outputs/job-1-1.png", "outputs/job-12-1.png"]]
    everything = await keys(storage.store, "outputs/")
    assert [len(page) for page in everything] == [2, 2]
    assert [key for page in everything for key in page] == [f"outputs/job-{n}-1.png" for n in (1, 12, 2, 3)]
    [[found, *_], *_] = [page async for page in storage.store.listing("outputs/job-12-")]
    assert (found.key, found.size) == ("outputs/job-12-1.png", 12)
    assert before < found.modified <= datetime.now(UTC) + timedelta(seconds=5)
    assert await keys(storage.store, "exports/") == []


async def test_removing_counts_what_was_there_and_a_trailing_star_stands_for_a_prefix(
    storage: Storage, tmp_path: Path
) -> None:
    kept = await storage.save_output(10, 0, b"someone else's")
    mine = [await storage.save_output(1, 0, b"a"), await storage.save_preview(1, 0, b"b")]
    export = tmp_path / "export.zip"
    export.write_bytes(b"PK zip")
    exports = [await storage.save_export(f"export-1-{n}.zip", export) for n in ("a", "b")]
    other = await storage.save_export("export-12-c.zip", export)
    removed = await storage.remove([*mine, "outputs/job-1-2.png", Storage.exports_of(1)])
    assert removed == 4  # the second output was never drawn
    assert [await storage.exists(key) for key in (*mine, *exports)] == [False] * 4
    assert await storage.exists(kept)
    assert await storage.exists(other)  # account 12 is not account 1
    assert await storage.remove([*mine, *exports]) == 0  # a second run finds nothing left


async def test_a_large_object_goes_in_and_out_whole(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(LARGE)
    await storage.store.put("outputs/job-5-1.png", data)
    assert await storage.read("outputs/job-5-1.png") == data
    source = tmp_path / "big.zip"
    source.write_bytes(data[::-1])
    key = await storage.save_export("export-5-big.zip", source)
    assert await storage.read(key) == data[::-1]


async def test_the_bucket_holds_the_keys_under_the_configured_prefix(
    s3_storage: dict[str, Any], tmp_path: Path
) -> None:
    shared = build_storage(StorageSettings(data_dir=tmp_path, **s3_storage, prefix="bot-a/"))
    await shared.prepare()
    key = await shared.save_output(1, 0, b"png")
    assert bucket_keys(s3_storage) == ["bot-a/outputs/job-1-1.png"]
    assert await keys(shared.store, "outputs/") == [[key]]
    assert await shared.remove([key]) == 1
    assert bucket_keys(s3_storage) == []


async def test_a_bucket_that_cannot_be_reached_stops_the_start(
    s3_storage: dict[str, Any], tmp_path: Path
) -> None:
    missing = build_storage(StorageSettings(data_dir=tmp_path, **{**s3_storage, "bucket": "no-such-bucket"}))
    with pytest.raises(ClientError, match=r"\(404\)"):
        await missing.prepare()


def test_the_s3_settings_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"storage\.bucket is required"):
        StorageSettings(backend="s3")
    with pytest.raises(ValueError, match="together"):
        StorageSettings(backend="s3", bucket="images", access_key_id="AKIA")
    with pytest.raises(ValueError, match="prefix"):
        StorageSettings(backend="s3", bucket="images", prefix="/no-leading-slash")
    assert StorageSettings().backend == "local"  # `make run`: the data folder, as before
