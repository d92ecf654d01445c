"""The console door through the real CLI, as a newcomer would use it: a subprocess, stdin and stdout."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.generation.styles import DEFAULT_STYLES
from core.i18n import translate
from core.privacy.settings import PrivacySettings
from tests.cli import run
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES

pytestmark = pytest.mark.spawns


def _env(database: DatabaseTarget | None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("IMAGE2BOT_", "OPENAI_"))}
    env["IMAGE2BOT_GENERATION__LOCAL_STEP_DELAY_S"] = "0"
    env["IMAGE2BOT_GENERATION__PROVIDER_IMAGES_PER_MINUTE"] = "0"  # the rate window has tests of its own
    if database is not None:
        env["IMAGE2BOT_DATABASE__URL"] = database.url
        if database.schema:
            env["IMAGE2BOT_DATABASE__SCHEMA"] = database.schema
    return {**env, **extra}


async def _run(args: list[str], stdin: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    return await run(*args, cwd=cwd, env=env, stdin=stdin)


def _replies(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def _after_accepting(stdout: str) -> list[dict[str, Any]]:
    """The replies after the first one, which must be the acceptance of the terms (ACCEPT)."""
    accepted, *replies = _replies(stdout)
    assert accepted["text"].startswith(translate("en", "privacy.accept.done").split(" (")[0]), accepted
    return replies


ACCEPT = "/accept\n"  # a newcomer accepts the terms before the first image


@BOTH_DATABASES
async def test_the_first_scenario_of_the_readme(database: DatabaseTarget, tmp_path: Path) -> None:
    code, out, err = await _run(
        ["console", "--user", "x", "--json"],
        ACCEPT + "/balance\n/imagine a red fox --ar 16:9\n/balance\n",
        tmp_path,
        _env(database),
    )
    assert code == 0, err
    replies = _after_accepting(out)
    balances = [reply["text"] for reply in replies if reply["type"] == "text"]
    assert balances[0].startswith(translate("en", "balance.total", total=40))
    assert balances[1].startswith(translate("en", "balance.total", total=30))
    [image] = [reply for reply in replies if reply["type"] == "image"]
    path = tmp_path / "data" / image["media"]
    assert path.parent == tmp_path / "data" / "outputs"
    with Image.open(path) as picture:
        assert (picture.format, picture.size) == ("PNG", (1360, 768))
    previews = [reply for reply in replies if reply["type"] == "progress" and "media" in reply]
    assert previews
    assert all((tmp_path / "data" / preview["media"]).is_file() for preview in previews)
    assert replies[-1]["type"] == "actions"
    assert replies[-1]["final"] is True
    assert "Traceback" not in err


async def test_text_mode_prints_images_as_paths_and_explains_mistakes(tmp_path: Path) -> None:
    code, out, err = await _run(
        ["console", "--user", "y"],
        ACCEPT + "/imagine a boat --ar 5:1\n/imagine a boat\n",
        tmp_path,
        _env(None),
    )
    assert code == 0, err
    assert translate("en", "error.ratio_out_of_range", value="5:1", min="1:3", max="3:1") in out
    assert "🖼 data/outputs/" in out
    assert "/action 1 upscale-2k" in out


async def test_a_reference_file_is_used_and_a_missing_one_costs_nothing(tmp_path: Path) -> None:
    reference = tmp_path / "sketch.png"
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(buffer, format="PNG")
    reference.write_bytes(buffer.getvalue())
    code, out, err = await _run(
        ["console", "--user", "z", "--json"],
        ACCEPT + f"/imagine make it dreamy --ref {reference}\n/imagine again --ref missing.png\n/balance\n",
        tmp_path,
        _env(None),
    )
    assert code == 0, err
    replies = _after_accepting(out)
    assert any(reply["type"] == "image" for reply in replies)
    assert translate("en", "error.reference_unreadable", name="missing.png") in [r["text"] for r in replies]
    assert list((tmp_path / "data" / "uploads").glob("*.png"))
    [balance] = [reply["text"] for reply in replies if reply["text"].startswith("Balance")]
    assert balance.startswith(translate("en", "balance.total", total=30))


async def test_run_with_no_config_chats_on_the_console(tmp_path: Path) -> None:
    code, out, err = await _run(["run"], "/start\n/accept\n/start\n", tmp_path, _env(None, LANG="C.UTF-8"))
    assert code == 0, err
    terms = PrivacySettings()
    how = translate("en", "privacy.how_typed")  # the console has no buttons: "type /accept"
    assert out.index(translate("en", "privacy.prompt", **terms.model_dump(), how=how)) < out.index(
        translate("en", "start.welcome", balance=40, price=10)
    )
    assert "offline demo renderer" in err
    assert (tmp_path / "data" / "image2bot.db").is_file()


async def test_with_a_key_and_a_base_url_the_console_generates_through_that_server(
    tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    env = _env(None, OPENAI_API_KEY="sk-test", IMAGE2BOT_OPENAI__BASE_URL=openai_double.base_url)
    code, out, err = await _run(
        ["console", "--user", "x", "--json"],
        ACCEPT + "/imagine a red fox --ar 16:9 --style cinema\n",
        tmp_path,
        env,
    )
    assert code == 0, err
    [request] = [r for r in openai_double.requests if r.path == "/v1/images/generations"]
    cinema = next(style for style in DEFAULT_STYLES if style.name == "cinema")
    assert request.fields["model"] == "gpt-image-2"
    assert request.fields["size"] == "1360x768"
    assert request.fields["prompt"] == cinema.apply("a red fox")
    assert len(str(request.fields["safety_identifier"])) == 32
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert any(reply["type"] == "image" for reply in _replies(out))
    assert "sk-test" not in err


async def test_a_server_error_from_that_server_restores_the_credits(
    tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(500, times=3)
    env = _env(
        None,
        OPENAI_API_KEY="sk-test",
        IMAGE2BOT_OPENAI__BASE_URL=openai_double.base_url,
        IMAGE2BOT_GENERATION__RETRY_BACKOFF_S="0.05",
    )
    code, out, err = await _run(
        ["console", "--user", "x", "--json"], ACCEPT + "/imagine a red fox\n/balance\n", tmp_path, env
    )
    assert code == 0, err
    replies = _after_accepting(out)
    job = replies[0]["job"]
    final = next(reply for reply in replies if reply.get("final"))
    assert final["text"] == translate("en", "job.failed.temporary", job=job, credits=10)
    code, out, _ = await _run(["users", "show", "console:x", "--json"], "", tmp_path, env)
    assert json.loads(out)["balance"]["total"] == 40


async def test_a_result_shown_before_exit_is_not_shown_again_at_the_next_start(tmp_path: Path) -> None:
    code, out, err = await _run(
        ["console", "--user", "w", "--json"], ACCEPT + "/imagine a fox\n", tmp_path, _env(None)
    )
    assert code == 0, err
    assert any(reply["type"] == "image" for reply in _after_accepting(out))

    code, out, err = await _run(["console", "--user", "w", "--json"], "/balance\n", tmp_path, _env(None))
    assert code == 0, err
    assert [reply["type"] for reply in _replies(out)] == ["text"], "only the answer to /balance"
