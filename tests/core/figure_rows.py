"""Jobs, ledger entries and payments written straight to the tables, at chosen times, for the tests of
the operators' figures."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from core.credits import EntryKind
from core.db.models import Account, CreditHold, Job, LedgerEntry, Payment
from core.db.session import Database
from core.db.statuses import JobStatus
from tests.core.generation.job_rows import JOB_COLUMNS

_keys = count()


async def accounts(db: Database, how_many: int) -> list[int]:
    async with db.transaction() as session:
        rows = [Account() for _ in range(how_many)]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def add_job(
    db: Database,
    account_id: int,
    status: JobStatus,
    *,
    created: datetime,
    started: datetime | None = None,
    finished: datetime | None = None,
    n: int = 1,
    cost: int = 10,
    held: bool = True,
    error: str | None = None,
) -> None:
    async with db.transaction() as session:
        hold = None
        if held:
            hold = CreditHold(
                account_id=account_id,
                idempotency_key=f"hold:{next(_keys)}",
                subscription_amount=0,
                one_time_amount=cost,
                status="settled" if status == JobStatus.SUCCEEDED else "held",
            )
            session.add(hold)
            await session.flush()
        columns: dict[str, Any] = {**JOB_COLUMNS, "n": n}
        session.add(
            Job(
                **columns,
                account_id=account_id,
                status=status,
                cost=cost,
                hold_id=hold.id if hold else None,
                error_code=error,
                created_at=created,
                started_at=started,
                finished_at=finished,
            )
        )


async def add_entry(db: Database, account_id: int, kind: EntryKind, delta: int, when: datetime) -> None:
    async with db.transaction() as session:
        session.add(
            LedgerEntry(
                account_id=account_id,
                bucket="one_time",
                delta=delta,
                kind=kind,
                idempotency_key=f"entry:{next(_keys)}",
                created_at=when,
            )
        )


async def add_payment(
    db: Database, account_id: int, *, amount: int, currency: str, status: str, credits: int, when: datetime
) -> None:
    async with db.transaction() as session:
        session.add(
            Payment(
                account_id=account_id,
                provider="telegram_stars" if currency == "XTR" else "stripe",
                reference=f"payment:{next(_keys)}",
                kind="pack",
                item="small",
                credits=credits,
                amount=amount,
                currency=currency,
                status=status,
                created_at=when,
            )
        )
