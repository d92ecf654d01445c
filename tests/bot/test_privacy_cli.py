"""Privacy through the real command line: the console acceptance scenario of the issue, and the
operator's `image2bot admin hold|unhold|export|delete|broadcast`. In-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import load_settings
from core.db.models import AuditEvent, Base
from core.i18n import translate
from core.privacy.settings import PrivacySettings
from tests.bot.test_cli import run, run_json

pytestmark = pytest.mark.usefixtures("restored_logging", "cli_env")

VERIFIED = "reply from the account's e-mail on file, ticket 88"
USER = "zed4711"
PROMPT = "a copper fox named Ottoline"


def console(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *lines: str) -> list[Any]:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    code, out, err = run(capsys, "console", "--user", USER, "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def en(key: str, **params: object) -> str:
    return translate("en", key, **params)


def database_dump() -> str:
    """Every row of every table of the configured database, as text."""

    async def dump() -> str:
        db = load_settings().open_database()
        try:
            async with db.transaction() as session:
                rows = [
                    repr(tuple(row))
                    for table in Base.metadata.sorted_tables
                    for row in (await session.execute(select(table))).all()
                ]
        finally:
            await db.dispose()
        return "\n".join(rows)

    return asyncio.run(dump())


def audit_actions() -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        db = load_settings().open_database()
        try:
            async with db.transaction() as session:
                return [
                    (e.actor, e.action)
                    for e in await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                ]
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_the_console_acceptance_scenario(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    terms = PrivacySettings().model_dump()
    refused, accepted, queued, *drawn = console(
        capsys, monkeypatch, f"/imagine {PROMPT}", "/accept", f"/imagine {PROMPT}"
    )
    assert refused["text"] == en("privacy.prompt", **terms, how=en("privacy.how_typed"))  # no buttons here
    assert accepted["text"].startswith(en("privacy.accept.done", **terms))
    assert queued["type"] == "progress"
    [image] = [reply for reply in drawn if reply["type"] == "image"]
    account = run_json(capsys, "users", "show", f"console:{USER}", "--json")["account_id"]

    *_redelivered, progress, export = console(capsys, monkeypatch, "/export")
    assert progress["text"] == en("privacy.export.building")
    assert export["type"] == "file"
    with zipfile.ZipFile(tmp_path / "data" / export["media"]) as archive:
        data = json.loads(archive.read("data.json"))
        [output] = data["jobs"][0]["outputs"]
        assert archive.read(output) == (tmp_path / "data" / image["media"]).read_bytes()
    assert data["jobs"][0]["prompt"] == PROMPT
    assert sorted(entry["kind"] for entry in data["ledger"]) == ["reserve", "settle", "trial"]

    [explained] = console(capsys, monkeypatch, "/delete")
    match = re.search(r"/delete ([A-Z0-9]{6})", explained["text"])
    assert match is not None
    [done] = console(capsys, monkeypatch, f"/delete {match.group(1)}")
    assert done["text"] == en("privacy.delete.done")

    stored = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}  # data and SQLite
    for secret in (PROMPT, "Ottoline", USER):
        assert secret not in database_dump()
        for path, content in stored.items():
            assert secret.encode() not in content, (secret, path)
    entries = run_json(capsys, "admin", "ledger", str(account), "--json")
    assert sum(entry["delta"] for entry in entries) == 0
    assert {entry["kind"] for entry in entries} == {"trial", "reserve", "settle", "forfeit"}
    assert run(capsys, "users", "show", f"console:{USER}")[0] == 1


def test_a_legal_hold_suspends_deletion_and_broadcasts_reach_only_marketing_consent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    console(capsys, monkeypatch, "/accept", "/marketing on")
    code, out, err = run(capsys, "admin", "hold", f"console:{USER}", "--reason", "court order 12")
    assert code == 0, err
    assert "under a legal hold" in out
    [suspended] = console(capsys, monkeypatch, "/delete")
    assert suspended["text"] == en("error.deletion_on_hold", contact="support@getimage2.com")
    code, out, _ = run(capsys, "admin", "delete", f"console:{USER}", "--yes", "--verified-by", VERIFIED)
    assert code == 1
    assert "legal hold" in out

    assert run(capsys, "admin", "unhold", f"console:{USER}")[0] == 0
    [explained] = console(capsys, monkeypatch, "/delete")
    assert "/delete " in explained["text"]
    code, out, err = run(capsys, "admin", "broadcast", "--text", "Spring sale")  # marketing is on
    assert "broadcast 1 queued for 1 accounts" in out
    console(capsys, monkeypatch, "/marketing off")
    assert (
        "broadcast 2 queued for 0 accounts" in run(capsys, "admin", "broadcast", "--text", "Summer sale")[1]
    )
    actions = audit_actions()
    assert [action for actor, action in actions if actor.startswith("cli:")] == [
        "legal_hold",
        "legal_hold_lifted",
        "broadcast",
        "broadcast",
    ]
    assert "court order 12" not in repr(actions)
    assert run(capsys, "admin", "hold", "console:nobody")[0] == 1


def test_the_operator_exports_and_erases_for_a_request_received_elsewhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    console(capsys, monkeypatch, "/accept", f"/imagine {PROMPT}")
    handover = str(tmp_path / "handover")
    assert run(capsys, "admin", "export", f"console:{USER}", "--out", handover)[0] == 2  # --verified-by
    code, out, err = run(
        capsys, "admin", "export", f"console:{USER}", "--out", handover, "--verified-by", VERIFIED
    )
    assert code == 0, err
    [zip_path] = (tmp_path / "handover").glob("*.zip")
    with zipfile.ZipFile(zip_path) as archive:
        assert json.loads(archive.read("data.json"))["jobs"][0]["prompt"] == PROMPT

    assert run(capsys, "admin", "delete", f"console:{USER}", "--verified-by", VERIFIED)[0] == 2  # --yes
    code, out, err = run(capsys, "admin", "delete", f"console:{USER}", "--yes", "--verified-by", VERIFIED)
    assert code == 0, err
    assert "erased" in out
    assert run(capsys, "users", "show", f"console:{USER}")[0] == 1
    assert PROMPT not in database_dump()
    assert [action for _actor, action in audit_actions()] == [
        "export",
        "request_verified",
        "erasure_requested",
        "erasure_completed",
        "request_verified",
    ]
    verified = run_json(capsys, "admin", "audit", "--action", "request_verified", "--json")
    assert [entry["details"] for entry in verified] == [
        {"request": "erasure", "verified_by": VERIFIED},  # written after the erasure, so it stays
        {},  # the export's, emptied by the erasure with the rest of the account's audit details
    ]
