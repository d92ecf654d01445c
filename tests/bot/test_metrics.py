"""/metrics on the web, gateway and worker roles: after a job ran across them, each process shows what
it saw (commands at the gateway, the render at the worker) and the same database figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from bot.app import Role
from core.db.models import LedgerEntry
from tests.bot.metrics_page import Page, scrape
from tests.bot.ops_apps import role_app, running
from tests.fakes.chat import RecordingChat
from tests.harness import DatabaseTarget, Harness

USER = "zelda-7431"
PROMPT = "a lighthouse at dusk, painted in oils"


async def test_every_role_serves_metrics_after_a_job(database: DatabaseTarget, tmp_path: Path) -> None:
    worker = role_app(database, tmp_path, Role.WORKER)
    gateway = role_app(database, tmp_path, Role.GATEWAY)
    web = role_app(database, tmp_path, Role.WEB, web={"enabled": True, "port": 0})
    chat = RecordingChat()
    gateway.notifier.register(chat)  # the gateway delivers the chat's replies

    async with running(worker) as worker_url, running(gateway) as gateway_url, running(web) as web_url:
        harness = Harness(gateway, chat)
        job_id = await harness.imagine(PROMPT, user=USER)
        assert (await chat.wait_final(job_id)).job == job_id
        await harness.say("/balance", user=USER)
        await harness.say("hello there", user=USER)
        await harness.say("/no-such-command", user=USER)

        pages = {
            "worker": await scrape(worker_url),
            "gateway": await scrape(gateway_url),
            "web": await scrape(web_url),
        }
        async with harness.app.db.read() as session:
            rows = await session.execute(
                select(LedgerEntry.kind, func.sum(LedgerEntry.delta)).group_by(LedgerEntry.kind)
            )
            ledger = {kind: int(total) for kind, total in rows}

    gateway_page, worker_page = pages["gateway"], pages["worker"]
    assert gateway_page.value("image2bot_commands_total", platform="test", command="imagine") == 1
    assert gateway_page.value("image2bot_commands_total", platform="test", command="balance") == 1
    assert gateway_page.value("image2bot_commands_total", platform="test", command="text") == 1
    assert gateway_page.value("image2bot_commands_total", platform="test", command="other") == 1
    assert worker_page.value("image2bot_commands_total") is None  # nothing reached the worker's core

    assert worker_page.value("image2bot_job_duration_seconds_count", state="succeeded") == 1
    assert worker_page.value("image2bot_provider_calls_total", provider="local") == 1
    assert worker_page.value("image2bot_provider_errors_total") is None
    assert gateway_page.value("image2bot_job_duration_seconds_count", state="succeeded") is None

    assert ledger["trial"] > 0
    for role, page in pages.items():
        assert page.value("image2bot_database_figures_ok") == 1, role
        assert page.value("image2bot_jobs", state="succeeded") == 1, role
        assert page.value("image2bot_jobs", state="queued") == 0, role
        assert page.value("image2bot_queue_depth") == 0, role
        assert page.value("image2bot_outbox_pending") is not None, role
        for kind, total in ledger.items():
            assert page.value("image2bot_credits_by_kind", kind=kind) == total, (role, kind)
        assert_no_personal_data(page)


def assert_no_personal_data(page: Page) -> None:
    for value in page.label_values():
        for personal in (USER, "lighthouse", "hello", "no-such-command", "test:"):
            assert personal not in value, value


async def test_a_scrape_while_the_database_hangs_answers_without_its_figures(tmp_path: Path) -> None:
    """The database figures are left out (and said to be) once the read takes too long; the process's
    own counters are still served."""
    async with silent_server() as port:
        silent = DatabaseTarget(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
        app = role_app(silent, tmp_path, Role.GATEWAY, ops={"check_timeout_s": 0.2})
        assert app.ops_web is not None
        await app.ops_web.start()  # the routes alone: the app itself could not start without its database
        try:
            page = await scrape(f"http://127.0.0.1:{app.ops_web.port}")
        finally:
            await app.close()
    assert page.value("image2bot_database_figures_ok") == 0
    assert page.value("image2bot_jobs") is None


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word (a database stuck under load)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
