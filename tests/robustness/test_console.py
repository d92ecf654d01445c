"""Bad lines typed into the console door (read from stdin as the CLI reads them): each gets its clear
answer, nothing is charged, and the door keeps reading. Undecodable bytes reach Python as lone
surrogates (stdin's `surrogateescape`), so the console is where those really arrive."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

from platforms.console.adapter import ConsoleAdapter
from tests.harness import DatabaseTarget, Harness, harness_for, sqlite_target
from tests.robustness.conftest import ledger
from tests.robustness.images import bomb
from tests.robustness.inputs import REFUSED, REFUSED_RAW, en

MAX_REFERENCE = 1024 * 1024


async def typed(harness: Harness, lines: list[str]) -> list[dict[str, object]]:
    """Runs the console door over `lines` until the end of its input; what it printed, one per reply."""
    stdout = io.StringIO()
    stdin = io.StringIO("".join(f"{line}\n" for line in lines))
    adapter = ConsoleAdapter(
        harness.app.core, user="robust", json_output=True, stdin=stdin, stdout=stdout, interactive=False
    )
    async with asyncio.timeout(20):  # at the end of its input it waits for the jobs it started
        await adapter.start()
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


async def test_bad_lines_and_references_are_explained_and_cost_nothing(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "huge.png").write_bytes(os.urandom(MAX_REFERENCE + 1))
    (files / "black.png").write_bytes(bomb(8000, 8000))
    (files / "empty.png").write_bytes(b"")
    refs = [
        (f"--ref {files / 'huge.png'}", en("reference_too_large", name="huge.png", limit=1)),
        (f"--ref {files / 'black.png'}", en("reference_too_many_pixels", name="black.png", limit=50)),
        (f"--ref {files / 'empty.png'}", en("reference_not_image", name="empty.png")),
        (f"--ref {files / 'missing.png'}", en("reference_unreadable", name="missing.png")),
        (f"--ref {files}", en("reference_unreadable", name="files")),
        (f"--ref '{files}/a\x00b.png'", en("reference_unreadable", name="a\x00b.png")),
    ]
    generation = {"max_reference_bytes": MAX_REFERENCE}
    async with harness_for(database, tmp_path, run_workers=False, generation=generation) as harness:
        await typed(harness, ["/balance"])
        before = await ledger(harness.app)
        cases = [*REFUSED, *REFUSED_RAW, *((f"like this {ref}", expected) for ref, expected in refs)]
        printed = await typed(harness, [f"/imagine {rest}" for rest, _ in cases])
        assert [reply["text"] for reply in printed] == [expected for _, expected in cases]
        assert all(reply.get("error") for reply in printed)
        assert await ledger(harness.app) == before


async def test_a_reference_path_too_long_for_the_system_is_explained(tmp_path: Path) -> None:
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        printed = await typed(harness, [f"/imagine a cat --ref {'x' * 300}.png", "/balance"])
    assert printed[0]["text"] == en("reference_unreadable", name=f"{'x' * 300}.png")
    assert len(printed) == 2, "the console goes on reading"
