"""A gateway and a worker that share nothing but the database and an S3 bucket (each its own data
folder, as on two machines): the worker stores the image, the gateway delivers it from the bucket,
and `/original`, `/export` and `/delete` work there too; after `/delete` the bucket is empty."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from core.db.statuses import JobStatus
from core.i18n import translate
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget, Harness, harness_for
from tests.object_store import bucket_keys
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.telegram.conftest import ALICE, TelegramBot, open_telegram_bot

QUICK_POLL_S = 0.05  # how often each side looks at the shared database for work


@asynccontextmanager
async def worker_machine(
    database: DatabaseTarget, data_dir: Path, storage: dict[str, Any]
) -> AsyncIterator[Harness]:
    """`--role worker`: renders, delivers nothing itself."""
    async with harness_for(database, data_dir, drain_outbox=False, storage=storage) as worker:
        worker.app.worker.poll_interval_s = QUICK_POLL_S
        worker.app.worker.wake()  # it waits with the interval it had
        yield worker


@asynccontextmanager
async def gateway_machine(
    database: DatabaseTarget, data_dir: Path, api: TelegramBotAPIDouble, storage: dict[str, Any]
) -> AsyncIterator[TelegramBot]:
    """`--role gateway`: the Telegram door and the outbox, no rendering."""
    async with open_telegram_bot(database, data_dir, api, run_workers=False, storage=storage) as gateway:
        gateway.harness.app.notifier.poll_interval_s = QUICK_POLL_S
        gateway.harness.app.notifier.wake()
        yield gateway


def local_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and path.suffix in {".png", ".zip"}]


@BOTH_DATABASES  # several machines share PostgreSQL in production
async def test_a_gateway_and_a_worker_on_different_disks_serve_a_user_through_the_bucket(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble, s3_storage: dict[str, Any]
) -> None:
    async with (
        worker_machine(database, tmp_path / "worker", s3_storage),
        gateway_machine(database, tmp_path / "gateway", api, s3_storage) as gateway,
    ):
        await gateway.say("/imagine a lighthouse in fog --ar 3:2")
        [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
        with Image.open(io.BytesIO(photo.upload())) as image:
            assert image.size == (1248, 832)
        assert bucket_keys(s3_storage) == ["outputs/job-1-1.png"]
        stored = await gateway.harness.app.storage.read("outputs/job-1-1.png")
        assert photo.upload() == stored
        assert (await gateway.harness.job(1)).status == JobStatus.SUCCEEDED

        await gateway.say("/original 1")
        [original] = await api.wait_for("sendDocument", chat_id=ALICE)
        assert original.upload() == stored
        assert original.fields["caption"] == translate("en", "original.caption", job=1, index=1)

        await gateway.say("/export")
        [_, export] = await api.wait_for("sendDocument", 2, chat_id=ALICE)
        with zipfile.ZipFile(io.BytesIO(export.upload())) as archive:
            assert archive.read("outputs/job-1-1.png") == stored
            assert "data.json" in archive.namelist()
        assert [key for key in bucket_keys(s3_storage) if key.startswith("exports/export-")]

        await gateway.say("/delete")
        code = re.search(r"/delete ([A-Z0-9]{6})\b", api.of("sendMessage", ALICE)[-1].fields["text"])
        assert code is not None
        await gateway.say(f"/delete {code.group(1)}")
        assert api.of("sendMessage", ALICE)[-1].fields["text"] == translate("en", "privacy.delete.done")

    assert bucket_keys(s3_storage) == []
    assert local_files(tmp_path) == []  # neither machine kept an image or an export on its own disk
