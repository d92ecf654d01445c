"""`--ref` in the console (issue 14, F9): only a regular file within the reference size limit is read;
a device (/dev/zero would never end), a pipe or an oversized file is refused unread and costs nothing."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

from platforms.console.adapter import ConsoleAdapter
from tests.harness import Harness, harness_for, sqlite_target
from tests.robustness.conftest import ledger
from tests.robustness.images import noise_png
from tests.robustness.inputs import en

LIMIT = 1024 * 1024


async def typed(harness: Harness, lines: list[str]) -> list[dict[str, object]]:
    """What the console door printed for `lines`, one reply a line, once it reached the end of them
    (as a terminal would: jobs it started are not waited for)."""
    stdout = io.StringIO()
    stdin = io.StringIO("".join(f"{line}\n" for line in lines))
    adapter = ConsoleAdapter(
        harness.app.core, user="refs", json_output=True, stdin=stdin, stdout=stdout, interactive=True
    )
    async with asyncio.timeout(20):
        await adapter.start()
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


async def test_a_device_a_pipe_or_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # opening it would wait for a writer that never comes
    big = tmp_path / "big.png"
    big.write_bytes(bytes(LIMIT + 1))
    generation = {"max_reference_bytes": LIMIT}
    async with harness_for(
        sqlite_target(tmp_path), tmp_path, run_workers=False, generation=generation
    ) as harness:
        await typed(harness, ["/balance"])
        before = await ledger(harness.app)
        printed = await typed(
            harness,
            [f"/imagine a cat --ref {path}" for path in ("/dev/zero", pipe, big)],
        )
        assert [reply["text"] for reply in printed] == [
            en("reference_unreadable", name="zero"),
            en("reference_unreadable", name="pipe.png"),
            en("reference_too_large", name="big.png", limit=1),
        ]
        assert await ledger(harness.app) == before


async def test_a_regular_file_is_read(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(noise_png())
    async with harness_for(sqlite_target(tmp_path), tmp_path, run_workers=False) as harness:
        (queued,) = await typed(harness, [f"/imagine a cat --ref {picture}"])
        job = await harness.job(int(str(queued["job"])))
    assert len(job.references) == 1
