"""What one `/imagine` costs the database through the Telegram door, with the provider's prompt
moderation on: one read of who asks (and their standing), then one write transaction that reserves
and queues, before the acknowledgement leaves. The write has the shape of a burst's batch (one
statement per table, however many requests arrived together): the payers locked, the numbers of
the new job and hold, the take, the hold, its entries, the job and its account's queue count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, event

from core.db.session import READ_ONLY
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.telegram.conftest import ALICE, TRIAL, TelegramBot, open_telegram_bot

STATEMENT_BUDGET = {"sqlite": 8, "postgresql": 8}  # the read's statement included


@dataclass
class Traffic:
    """The SQL a block sends: its statements (BEGIN and COMMIT left out) and, per transaction,
    whether it only reads."""

    statements: list[str] = field(default_factory=list)
    transactions: list[bool] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return self.transactions.count(False)


@contextmanager
def traffic(bot: TelegramBot) -> Iterator[Traffic]:
    seen = Traffic()

    def began(connection: Connection) -> None:
        options = connection.get_execution_options()
        seen.transactions.append(bool(options.get(READ_ONLY) or options.get("postgresql_readonly")))

    def executed(*args: object) -> None:
        statement = str(args[2])
        if "send_pace" in statement:
            return  # the acknowledgement's turn in the token's send budget: sending, not the request
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT")):
            seen.statements.append(statement)

    engines = [engine.sync_engine for engine in bot.harness.app.db.engines]
    for engine in engines:
        event.listen(engine, "begin", began)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", executed)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "begin", began)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", executed)


@BOTH_DATABASES  # the statements differ: PostgreSQL draws job numbers from a sequence and notifies
async def test_imagine_is_one_read_and_one_write_of_a_few_statements(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble, openai_double: OpenAIImagesDouble
) -> None:
    moderated = {"api_key": "sk-test-key", "base_url": openai_double.base_url, "moderation": True}
    async with open_telegram_bot(
        database,
        tmp_path,
        api,
        run_workers=False,  # the workers' own transactions are not the request's
        drain_outbox=False,
        openai=moderated,
        generation={"provider": "openai"},
    ) as bot:
        await bot.say("/accept")
        await bot.say("/imagine a lighthouse")  # warm: the first request of a process reads more
        with traffic(bot) as seen:
            await bot.say("/imagine a red fox at dawn --ar 16:9")
        [ack] = api.of("sendMessage", ALICE)[-1:]
        assert "queued" in ack.fields["text"]
        assert await bot.balance() == TRIAL - 20
    checked = [request for request in openai_double.requests if request.path == "/v1/moderations"]
    assert [request.fields["input"] for request in checked][-1:] == [["a red fox at dawn"]]
    assert seen.writes == 1, seen.transactions
    assert len(seen.transactions) == 2, "one read of who asks and their standing, one write"
    budget = STATEMENT_BUDGET["sqlite" if database.url.startswith("sqlite") else "postgresql"]
    assert len(seen.statements) <= budget, "\n".join(seen.statements)
