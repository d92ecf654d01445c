"""`[logging] format = "json"`: one object a line, with a job's id and error reference as fields, and
masked exactly like text logs (message, exception and fields alike)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from bot.__main__ import configure_logging, main
from core.generation.providers.base import OnPartial, RenderRequest, RenderResult
from tests.fakes.gated_provider import GatedProvider
from tests.harness import harness_for, sqlite_target

SECRET = "whsec_json_logs_secret"
EMAIL = "jane.doe@mail.example.com"


class CrashingProvider(GatedProvider):
    """A provider with a bug that puts a secret and an e-mail address in its error."""

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        raise RuntimeError(f"cannot reach {EMAIL} with {SECRET}")


def lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.mark.usefixtures("restored_logging")
async def test_a_failed_job_is_logged_as_json_with_its_id_and_reference_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", [SECRET], json_lines=True)
    async with harness_for(sqlite_target(tmp_path), tmp_path, provider=CrashingProvider()) as harness:
        job_id = await harness.imagine(f"a portrait for {EMAIL}")
        failure = await harness.chat.wait_final(job_id)
    records = lines(capsys.readouterr().err)

    [crash] = [record for record in records if record.get("job_id") == job_id and record["level"] == "ERROR"]
    assert crash["logger"] == "core.generation.worker"
    assert isinstance(crash["ref"], str)
    assert crash["ref"] in failure.text  # the reference the user was given
    assert f"[ref {crash['ref']}]" in str(crash["message"])
    assert "RuntimeError: cannot reach [redacted] with [redacted]" in str(crash["exception"])
    assert {"time", "level", "logger", "message"} <= crash.keys()
    everything = json.dumps(records)
    assert SECRET not in everything
    assert EMAIL not in everything


@pytest.mark.usefixtures("restored_logging")
def test_fields_given_with_a_record_are_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", [SECRET], json_lines=True)
    logging.getLogger("some.library").warning(
        "sent to %s", EMAIL, extra={"job_id": 7, "ref": "AB12CD", "note": f"key {SECRET}"}
    )
    [record] = lines(capsys.readouterr().err)
    assert record["message"] == "sent to [redacted]"
    assert record["job_id"] == 7
    assert record["ref"] == "AB12CD"
    assert record["note"] == "key [redacted]"
    assert record["level"] == "WARNING"


@pytest.mark.usefixtures("restored_logging")
def test_the_config_file_turns_json_on_and_the_flag_still_sets_the_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[logging]\nformat = "json"\nlevel = "warning"\n[storage]\ndata_dir = "{tmp_path}"\n')
    for name in [name for name in os.environ if name.startswith("IMAGE2BOT_")]:
        monkeypatch.delenv(name)
    assert main(["--config", str(config), "--log-level", "ERROR", "migrate"]) == 0
    assert logging.getLogger().level == logging.ERROR
    logging.getLogger("image2bot").error("to %s", EMAIL)
    assert lines(capsys.readouterr().err)[-1]["message"] == "to [redacted]"
