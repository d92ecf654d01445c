"""Three processes sending on one bot token share its budget through PostgreSQL: together they keep
the token's pace and every chat's, as one process would."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.core.send_schedule import Sent, assert_within_pace
from tests.harness import DatabaseTarget
from tests.scale import send_budget_sender as sender

# Many processes share one PostgreSQL database in production; SQLite is for one process.
pytestmark = [pytest.mark.parametrize("database", ["postgresql"], indirect=True), pytest.mark.spawns]

PROCESSES = 3
TIMEOUT_S = 60
ROOT = Path(__file__).resolve().parents[2]


async def test_processes_on_one_token_keep_one_pace_together(database: DatabaseTarget) -> None:
    assert database.schema is not None
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.scale.send_budget_sender",
            database.url,
            database.schema,
            f"test:{database.schema}",
            str(seed),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for seed in range(PROCESSES)
    ]
    try:
        async with asyncio.timeout(TIMEOUT_S):
            for process in processes:  # every one is ready before any starts
                assert process.stdout is not None
                assert (await process.stdout.readline()).strip() == b"ready"
            outputs = await asyncio.gather(*(process.communicate(b"go\n") for process in processes))
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert [process.returncode for process in processes] == [0] * PROCESSES
    reports = [json.loads(out) for out, _ in outputs]
    sent: list[Sent] = [(at, chat) for report in reports for at, chat in report["sent"]]
    assert len(sent) == PROCESSES * (sender.SENDERS * sender.PER_SENDER + sender.PER_GROUP_SENDER)
    assert_within_pace(sent, max(report["lateness_s"] for report in reports))
