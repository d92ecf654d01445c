"""`/export`: a ZIP with everything about the asker and nothing about anyone else, once a day, in a
private chat only, split or offered as a one-time link when the chat cannot take it whole."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from core.db.models import Payment
from core.messages import Attachment, ReplyType
from tests.core.privacy.conftest import GATED
from tests.core.privacy.helpers import accepted, account_id, en, finished, say_in_group
from tests.harness import DatabaseTarget, Harness, harness_for


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="PNG")
    return buffer.getvalue()


def reference(data: bytes) -> Attachment:
    async def fetch() -> bytes:
        return data

    return Attachment("sketch.png", fetch, len(data))


def read_zip(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("data.json")), files


async def add_payment(harness: Harness, user: str, reference: str) -> None:
    account = await account_id(harness, user)
    async with harness.app.db.transaction() as session:
        session.add(
            Payment(
                account_id=account,
                provider="stripe",
                reference=reference,
                kind="pack",
                item="starter",
                credits=500,
                amount=999,
                currency="usd",
                status="paid",
                receipt_url=f"https://pay.example/receipt/{reference}",
                chat=f"test:private:{user}",
            )
        )


async def test_the_export_holds_all_of_the_askers_data_and_nothing_of_anyone_else(gated: Harness) -> None:
    for user in ("alice", "bob"):
        await accepted(gated, user)
    await gated.say("/consent analytics on")
    await gated.say("/profile set email alice@example.com")
    await gated.say("/settings ar 16:9")
    replies = await gated.say("/imagine a lighthouse in fog", attachments=(reference(png((200, 10, 10))),))
    job = replies[0].job
    assert job is not None
    await gated.chat.wait_final(job)
    await gated.say("/support the lighthouse is too dark")
    await gated.say("/invite", "bob")
    await gated.say("/invite")
    await add_payment(gated, "alice", "cs_alice")
    await finished(gated, "bob's secret garden", "bob")
    await add_payment(gated, "bob", "cs_bob")

    [reply] = await gated.say("/export")

    assert reply.type == ReplyType.FILE
    assert reply.private
    assert en("privacy.export.building") in [sent.text for sent in gated.chat.sent["alice"]]  # progress
    assert reply.media is not None
    storage = gated.app.core.services.storage
    whole = await storage.read(reply.media)
    data, files = read_zip(whole)
    assert data["account"]["id"] == await account_id(gated)
    assert data["identities"] == [
        {"platform": "test", "user_id": "alice", "since": data["identities"][0]["since"]}
    ]
    assert data["profile"]["email"] == "alice@example.com"
    assert data["settings"] == {"ar": "16:9"}
    assert [(c["kind"], c["granted"]) for c in data["consents"]] == [("terms", True), ("analytics", True)]
    assert sorted(entry["kind"] for entry in data["ledger"]) == ["reserve", "settle", "trial"]
    assert sum(entry["delta"] for entry in data["ledger"]) == data["account"]["balance"]["total"] == 30
    [payment] = data["payments"]
    [invitation] = data["invitation"]
    assert invitation["chat"] == "test:private:alice"
    assert (payment["reference"], payment["amount"], payment["status"]) == ("cs_alice", 999, "paid")
    [exported_job] = data["jobs"]
    assert exported_job["prompt"] == "a lighthouse in fog"
    assert (exported_job["ratio"], exported_job["tier"], exported_job["style"]) == ("16:9", "1k", "none")
    [ticket] = data["support_tickets"]
    assert ticket["messages"][0] == {
        "from": "you",
        "text": "the lighthouse is too dark",
        "at": ticket["messages"][0]["at"],
    }
    assert {event["properties"]["command"] for event in data["analytics_events"]} >= {"imagine", "support"}
    job_row = await gated.job(job)
    expected_files = [*job_row.outputs, *job_row.references]
    assert sorted(files) == sorted(expected_files) == sorted(data["files"])
    for name in expected_files:
        assert files[name] == await storage.read(name)

    everything = whole + json.dumps(data).encode()
    for foreign in (b"secret garden", b"cs_bob", b"test:private:bob"):
        assert foreign not in everything


async def test_export_is_refused_in_a_group_and_nothing_is_built(gated: Harness) -> None:
    await accepted(gated)
    [reply] = await say_in_group(gated, "/export")
    assert reply.error
    assert reply.text == en("error.direct_only", command="/export")
    assert [page async for page in gated.app.core.services.storage.store.listing("exports/")] == []
    [mydata] = await say_in_group(gated, "/mydata")
    assert mydata.text == en("error.direct_only", command="/export")


async def test_an_account_exports_at_most_once_a_day(gated: Harness) -> None:
    await accepted(gated)
    [first] = await gated.say("/export")
    assert first.type == ReplyType.FILE
    [second] = await gated.say("/mydata")
    assert second.error
    assert second.text == en("error.export_too_soon", wait="23 hours, 59 minutes")


async def test_an_export_too_large_for_the_chat_is_split_into_parts_that_fit(gated: Harness) -> None:
    await accepted(gated)
    job = await finished(gated, "three boats --n 3")
    outputs = (await gated.job(job)).outputs
    storage = gated.app.core.services.storage
    limit = max([len(await storage.read(name)) for name in outputs]) + 4096
    gated.app.core.services.privacy.exports.upload_limits["test"] = limit

    replies = await gated.say("/export")

    assert len(replies) > 1
    assert [reply.text for reply in replies] == [
        en("privacy.export.part", part=i, parts=len(replies)) for i in range(1, len(replies) + 1)
    ]
    names: list[str] = []
    for index, reply in enumerate(replies):
        assert reply.type == ReplyType.FILE
        assert reply.media is not None
        zipped = await storage.read(reply.media)
        assert len(zipped) <= limit
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            part = archive.namelist()
        assert ("data.json" in part) == (index == 0)
        names.extend(part)
    assert sorted(names) == sorted(["data.json", *outputs])


async def test_with_a_public_address_a_large_export_is_one_download_within_a_day(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    web = {"enabled": True, "host": "127.0.0.1", "port": 0, "public_url": "https://bot.example.com/"}
    async with harness_for(database, tmp_path, privacy=GATED, web=web) as harness:
        assert harness.app.web is not None
        await harness.app.web.start()
        await accepted(harness)
        await finished(harness, "a red fox")
        harness.app.core.services.privacy.exports.upload_limits["test"] = 1000

        [reply] = await harness.say("/export")

        assert reply.type == ReplyType.TEXT
        assert reply.private
        url = reply.text.split(": ")[-1]
        assert url.startswith("https://bot.example.com/privacy/export/")
        token = url.rsplit("/", 1)[1]
        assert len(token) >= 40
        local = f"http://127.0.0.1:{harness.app.web.port}/privacy/export/{token}"
        async with aiohttp.ClientSession() as client:
            async with client.get(local) as response:
                assert response.status == 200
                body = await response.read()
            async with client.get(local) as again:
                assert again.status == 404
            async with client.get(local[:-3] + "abc") as guessed:
                assert guessed.status == 404
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            data = json.loads(archive.read("data.json"))
        assert data["jobs"][0]["prompt"] == "a red fox"
