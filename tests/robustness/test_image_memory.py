"""References within a memory budget (issue 14, F2): what can be refused without decoding is refused
before any decode, and decodes take turns. What they cost in memory is the benchmark's to tell
(bench/image_memory.py), not a test's."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from core.generation import references
from core.messages import Attachment, Stage
from tests.harness import DatabaseTarget, harness_for, sqlite_target
from tests.robustness.conftest import ledger
from tests.robustness.images import bomb, bomb_by_header, noise_png
from tests.robustness.inputs import en

EDGE = 7000  # 49 megapixels: under the PNG limit, and 196 MB decoded as RGBA


def attached(name: str, data: bytes, fetched: list[str] | None = None) -> Attachment:
    async def fetch() -> bytes:
        if fetched is not None:
            fetched.append(name)
        return data

    return Attachment(name=name, fetch=fetch, size=len(data))


def encoded(size: tuple[int, int], kind: str, **options: object) -> Callable[[], bytes]:
    """A black picture of `size` in format `kind`, made when the test runs."""

    def make() -> bytes:
        buffer = io.BytesIO()
        Image.new("L", size).save(buffer, format=kind, **options)
        return buffer.getvalue()

    return make


async def test_an_account_without_credits_is_refused_before_its_reference_is_fetched(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    fetched: list[str] = []
    big = attached("big.png", bomb(EDGE, EDGE), fetched)
    async with harness_for(database, tmp_path, run_workers=False, credits={"trial": 0}) as harness:
        await harness.say("/balance")
        before = await ledger(harness.app)
        refused = await harness.say("/imagine a cat", attachments=(big, big, big, big))
        assert refused == await harness.say("/imagine a cat")  # the refusal it gets without references
        assert refused[0].text.startswith(en("insufficient_credits", balance=0, cost=10))
        assert fetched == []
        assert [page async for page in harness.app.storage.store.listing("uploads/")] == []
        assert await ledger(harness.app) == before


@pytest.mark.parametrize(
    ("name", "make", "limit"),
    [
        ("claims.png", lambda: bomb_by_header(EDGE + 100, EDGE + 100), 50),  # one row behind its header
        ("wide.webp", encoded((4100, 4000), "WEBP", lossless=True, method=0), 16),
        ("slow.jpg", encoded((5100, 5000), "JPEG", progressive=True, quality=10), 25),
    ],
)
async def test_a_reference_with_too_many_pixels_for_its_kind_is_refused_from_its_header(
    tmp_path: Path, name: str, make: Callable[[], bytes], limit: int
) -> None:
    async with harness_for(sqlite_target(tmp_path), tmp_path, run_workers=False) as harness:
        await harness.say("/balance")
        before = await ledger(harness.app)
        replies = await harness.say("/imagine a cat", attachments=(attached(name, make()),))
        assert [reply.text for reply in replies] == [en("reference_too_many_pixels", name=name, limit=limit)]
        assert [page async for page in harness.app.storage.store.listing("uploads/")] == []
        assert await ledger(harness.app) == before


async def test_a_large_reference_is_stored_reduced(tmp_path: Path) -> None:
    async with harness_for(sqlite_target(tmp_path), tmp_path, run_workers=False) as harness:
        replies = await harness.say("/imagine a cat", attachments=(attached("big.png", bomb(EDGE, EDGE)),))
        assert replies[0].stage == Stage.QUEUED
        assert replies[0].job is not None
        (stored,) = (await harness.job(replies[0].job)).references
        with Image.open(io.BytesIO(await harness.app.storage.read(stored))) as picture:
            assert picture.size == (EDGE // 2, EDGE // 2)


async def test_decodes_take_turns_while_the_bot_keeps_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit, users = 2, 6
    decoding = 0
    most = 0
    count = threading.Lock()
    release = threading.Event()
    decode = references.reduced_png

    def held(data: bytes, name: str) -> bytes:
        nonlocal decoding, most
        with count:
            decoding += 1
            most = max(most, decoding)
        try:
            release.wait(timeout=60)  # a ceiling: the test releases it as soon as it has looked
            return decode(data, name)
        finally:
            with count:
                decoding -= 1

    monkeypatch.setattr(references, "reduced_png", held)
    generation = {"max_concurrent_decodes": limit}
    async with harness_for(
        sqlite_target(tmp_path), tmp_path, run_workers=False, generation=generation
    ) as harness:
        gate = harness.app.core.services.jobs.references.gate
        picture = attached("small.png", noise_png())
        asks = [
            asyncio.create_task(harness.say("/imagine a cat", f"user{i}", attachments=(picture,)))
            for i in range(users)
        ]
        try:
            async with asyncio.timeout(30):
                while not (decoding == limit and gate.waiting == users - limit):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)  # polls what threads and the gate do, up to the deadline
            assert gate.running == limit
            balance = await harness.say("/balance", "bystander")
            assert balance[0].text
        finally:
            release.set()
        answered = await asyncio.gather(*asks)
    assert [replies[0].stage for replies in answered] == [Stage.QUEUED] * users
    assert most == limit
