"""Accounts as the service leaves them once their owners accepted the terms, written in bulk.

Going through the service would take minutes for 100,000 accounts; these inserts write the same
rows (account with its trial credits, identity, trial ledger entry, privacy profile) in seconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from core.db.models import NEVER_SERVED, Account, Identity, LedgerEntry, PrivacyProfile
from core.db.session import Database
from core.db.types import utcnow
from core.privacy.settings import PrivacySettings

BATCH = 20_000


async def seed_accounts(
    db: Database, user_ids: Sequence[int], *, platform: str, trial: int, privacy: PrivacySettings
) -> None:
    """One account per platform user id, in private chat with the bot, holding `trial` credits."""
    now = utcnow()
    async with db.transaction() as session:
        first = int(await session.scalar(select(func.coalesce(func.max(Account.id), 0))) or 0) + 1
    for start in range(0, len(user_ids), BATCH):
        batch = list(enumerate(user_ids[start : start + BATCH], start=first + start))
        async with db.transaction() as session:
            await session.execute(
                insert(Account.__table__),
                [
                    {
                        "id": account,
                        "created_at": now,
                        "preferences": {},
                        "balance_subscription": 0,
                        "balance_one_time": trial,
                    }
                    for account, _ in batch
                ],
            )
            await session.execute(
                insert(Identity.__table__),
                [
                    {
                        "account_id": account,
                        "platform": platform,
                        "platform_user_id": str(user),
                        "created_at": now,
                    }
                    for account, user in batch
                ],
            )
            await session.execute(
                insert(LedgerEntry.__table__),
                [
                    {
                        "account_id": account,
                        "bucket": "one_time",
                        "delta": trial,
                        "kind": "trial",
                        "idempotency_key": f"trial:{account}",
                        "created_at": now,
                    }
                    for account, _ in batch
                ],
            )
            await session.execute(
                insert(PrivacyProfile.__table__),
                [
                    {
                        "account_id": account,
                        "terms_version": privacy.terms_version,
                        "policy_version": privacy.policy_version,
                        "accepted_at": now,
                        "analytics": False,
                        "marketing": False,
                        "trial_granted": True,
                        "direct_chat": f"{platform}:private:{user}",
                        "updated_at": now,
                    }
                    for account, user in batch
                ],
            )


# --- A service's history, written with set-based SQL (bench/scale.py) ---------------------------------
#
# The ORM (or even executemany) would take minutes for a million jobs; these statements generate the
# rows inside SQLite (a recursive CTE per chunk), through a connection of their own with a large page
# cache and no fsync, which is what makes a million jobs a matter of seconds. Every row derived from a
# job (its hold, ledger entries, outbox messages, references, audit events) is read back from the jobs
# just written, so the tables agree with each other.

HISTORY_USERS = 100_000_000  # platform user id = HISTORY_USERS + account id
HISTORY_CHUNK = 100_000  # jobs per transaction


@dataclass(frozen=True)
class Timeline:
    """Job number i was created at `start + i * step` (seconds since the epoch): numbers follow time,
    and a database grown in steps keeps one timeline."""

    start: float
    step: float

    def moment(self, job: float) -> datetime:
        return datetime.fromtimestamp(self.start + job * self.step, UTC)

    def stamp(self, job: float) -> str:
        return sqlite_stamp(self.moment(job))


def sqlite_stamp(moment: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _stamp_sql(offset_s: int = 0) -> str:
    """The SQL for job `i`'s stamp on the timeline (bound as :t0 and :step), `offset_s` later."""
    return f"strftime('%Y-%m-%d %H:%M:%S', :t0 + i * :step + {offset_s}, 'unixepoch') || '.000000'"


_NUMBERS = "WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last)"

HISTORY_ACCOUNTS = [
    f"""{_NUMBERS}
    INSERT INTO accounts (id, created_at, language, preferences, balance_subscription, balance_one_time)
    SELECT i, :created, 'en', '{{}}', 0, :balance FROM n""",
    f"""{_NUMBERS}
    INSERT INTO identities (account_id, platform, platform_user_id, created_at)
    SELECT i, 'telegram', CAST(:users + i AS TEXT), :created FROM n""",
    f"""{_NUMBERS}
    INSERT INTO privacy_profiles (account_id, terms_version, policy_version, accepted_at, analytics,
        marketing, trial_granted, direct_chat, updated_at)
    SELECT i, :terms, :policy, :created, 0, i % 5 = 0, 1, 'telegram:private:' || (:users + i), :created
    FROM n""",
    f"""{_NUMBERS}
    INSERT INTO consent_records (account_id, kind, granted, terms_version, policy_version, min_age,
        platform, source, created_at)
    SELECT i, 'terms', 1, :terms, :policy, 13, 'telegram', 'user', :created FROM n""",
    f"""{_NUMBERS}
    INSERT INTO ledger_entries (account_id, bucket, delta, kind, reference, idempotency_key, created_at)
    SELECT i, 'one_time', 40, 'trial', NULL, 'trial:' || i, :created FROM n
    UNION ALL
    SELECT i, 'one_time', :balance, 'purchase', 'stripe:cs_bench_' || i, 'stripe:cs_bench_' || i, :created
    FROM n WHERE i % 10 = 0""",
    f"""{_NUMBERS}
    INSERT INTO payments (account_id, provider, reference, kind, item, credits, amount, currency, status,
        payment_intent, chat, credits_reclaimed, shortfall, created_at)
    SELECT i, 'stripe', 'cs_bench_' || i, 'pack', 'pack_m', :balance, 999, 'usd', 'paid', 'pi_bench_' || i,
        'telegram:private:' || (:users + i), 0, 0, :created
    FROM n WHERE i % 10 = 0""",
]

# Job i: 90% succeeded, 6% failed, 4% cancelled; one in ten reads an upload (shared by content);
# one in `heavy_every` belongs to the heavy account, the others are spread over every account.
_JOB_ACCOUNT = (
    "CASE WHEN :heavy_every > 0 AND i % :heavy_every = 0 THEN :heavy ELSE (i * 7919) % :accounts + 1 END"
)
HISTORY_JOBS = f"""{_NUMBERS}, j(i, a) AS (SELECT i, {_JOB_ACCOUNT} FROM n)
    INSERT INTO jobs (id, account_id, identity, chat, language, status, prompt, provider_prompt, style,
        ratio, tier, width, height, model, quality, n, cost, hold_id, "references", request_key, outputs,
        error_code, attempts, created_at, started_at, finished_at)
    SELECT i, a, 'telegram:' || (:users + a), 'telegram:private:' || (:users + a), 'en',
        CASE WHEN i % 100 < 6 THEN 'failed' WHEN i % 100 < 10 THEN 'cancelled' ELSE 'succeeded' END,
        'a red fox in the snow at dawn, take ' || i, 'a red fox in the snow at dawn, take ' || i,
        'none', '1:1', '1k', 1024, 1024, 'gpt-image-2', 'auto', 1, 10, i + :hold_offset,
        CASE WHEN i % 10 = 3 THEN '["uploads/' || printf('%032x', i % :uploads) || '.png"]' ELSE '[]' END,
        'telegram:private:' || (:users + a) || ':' || i,
        CASE WHEN i % 100 >= 10 THEN '["outputs/job-' || i || '-1.png"]' ELSE '[]' END,
        CASE WHEN i % 100 < 6 THEN 'provider' END,
        CASE WHEN i % 100 BETWEEN 6 AND 9 THEN 0 ELSE 1 END,
        {_stamp_sql()}, CASE WHEN i % 100 BETWEEN 6 AND 9 THEN NULL ELSE {_stamp_sql(5)} END,
        {_stamp_sql(40)}
    FROM j"""
# Jobs in the queue now: the first `running` are rendering (leased by another worker), the rest wait.
BACKLOG_JOBS = f"""{_NUMBERS}, j(i, a) AS (SELECT i, (i * 7919) % :accounts + 1 FROM n)
    INSERT INTO jobs (id, account_id, identity, chat, language, status, prompt, provider_prompt, style,
        ratio, tier, width, height, model, quality, n, cost, hold_id, "references", request_key, outputs,
        attempts, lease_owner, lease_expires_at, created_at, started_at)
    SELECT i, a, 'telegram:' || (:users + a), 'telegram:private:' || (:users + a), 'en',
        CASE WHEN i < :first + :running THEN 'running' ELSE 'queued' END,
        'a kite over the dunes', 'a kite over the dunes', 'none', '1:1', '1k', 1024, 1024,
        'gpt-image-2', 'auto', 1, 10, i + :hold_offset, '[]', 'telegram:private:' || (:users + a) || ':' || i,
        '[]', CASE WHEN i < :first + :running THEN 1 ELSE 0 END,
        CASE WHEN i < :first + :running THEN 'bench-elsewhere' END,
        CASE WHEN i < :first + :running THEN :lease_until END, :now,
        CASE WHEN i < :first + :running THEN :now END
    FROM j"""
_RANGE = "jobs.id BETWEEN :first AND :last"
_FINISHED = "jobs.status IN ('succeeded', 'failed', 'cancelled')"
HISTORY_DERIVED = [
    f"""INSERT INTO credit_holds (id, account_id, idempotency_key, reference, subscription_amount,
        one_time_amount, status, created_at, closed_at)
    SELECT hold_id, account_id, 'job:' || id || ':' || printf('%08x', id), 'job:' || id, 0, cost,
        CASE status WHEN 'succeeded' THEN 'settled' WHEN 'failed' THEN 'refunded'
            WHEN 'cancelled' THEN 'refunded' ELSE 'held' END,
        created_at, CASE WHEN {_FINISHED} THEN finished_at END
    FROM jobs WHERE {_RANGE}""",
    f"""INSERT INTO ledger_entries (account_id, bucket, delta, kind, reference, idempotency_key, created_at)
    SELECT account_id, 'one_time', delta, kind, 'job:' || id,
        'hold:' || hold_id || ':' || kind || ':one_time', at
    FROM (
        SELECT id, account_id, hold_id, -cost AS delta, 'reserve' AS kind, created_at AS at, 0 AS step
        FROM jobs WHERE {_RANGE}
        UNION ALL
        SELECT id, account_id, hold_id, CASE status WHEN 'succeeded' THEN 0 ELSE cost END,
            CASE status WHEN 'succeeded' THEN 'settle' ELSE 'refund' END, finished_at, 1
        FROM jobs WHERE {_RANGE} AND {_FINISHED}
    ) ORDER BY id, step""",
    # The outbox: each finished job's outcome, a progress message for one job in four (from job
    # :outbox_from on: older ones were purged); sent, except one in 97 given up (the chat was gone)
    # and progress that expired.
    f"""INSERT INTO deliveries (key, chat, payload, status, attempts, next_attempt_at, expires_at,
        attempted_at, created_at, sent_at)
    SELECT key, chat, payload, status, 1, at, expires, at, at, CASE WHEN status = 'sent' THEN at END
    FROM (
        SELECT id, 'job:' || id || ':outcome' AS key, chat,
            json_object('kind', 'result', 'job', id, 'text', '#' || id || ' ' || prompt,
                'choices', json_array('U1', 'V1', 'R')) AS payload,
            CASE WHEN id % 97 = 0 THEN 'given_up' ELSE 'sent' END AS status, finished_at AS at,
            NULL AS expires, 1 AS step
        FROM jobs WHERE {_RANGE} AND id >= :outbox_from AND status IN ('succeeded', 'failed')
        UNION ALL
        SELECT id, 'job:' || id || ':progress', chat, json_object('kind', 'progress', 'job', id),
            CASE WHEN id % 8 = 0 THEN 'expired' ELSE 'sent' END, started_at, finished_at, 0
        FROM jobs WHERE {_RANGE} AND id >= :outbox_from AND id % 4 = 0 AND started_at IS NOT NULL
    ) ORDER BY id, step""",
    f"""INSERT INTO job_references (path, job_id)
    SELECT json_extract("references", '$[0]'), id FROM jobs WHERE {_RANGE} AND "references" != '[]'""",
    # Staff granting credits (one job in a hundred); a tenth of them the user's own action.
    f"""INSERT INTO audit_events (actor, action, account_id, details, created_at)
    SELECT CASE WHEN id % 1000 = 50 THEN identity ELSE 'wecom:staff-' || (id % 7) END, 'credits_granted',
        account_id, json_object('amount', 10, 'ticket', id), finished_at
    FROM jobs WHERE {_RANGE} AND id % 100 = 50""",
    f"""INSERT INTO safety_strikes (account_id, source, created_at)
    SELECT account_id, 'moderation', created_at FROM jobs WHERE {_RANGE} AND id % 500 = 77""",
    f"""INSERT INTO support_tickets (account_id, identity, chat, language, status, created_at, closed_at)
    SELECT account_id, identity, chat, 'en', 'closed', created_at, finished_at
    FROM jobs WHERE {_RANGE} AND id % 1000 = 500""",
]


def sqlite_seed_connection(path: Path) -> sqlite3.Connection:
    """A connection for bulk writes: a large page cache, no fsync, no foreign-key checks (the rows
    written agree by construction). The database stays in WAL mode, as the product opens it."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("cache_size=-600000", "synchronous=OFF", "temp_store=MEMORY", "foreign_keys=OFF"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def seed_history_accounts(
    connection: sqlite3.Connection,
    first: int,
    last: int,
    *,
    created: str,
    balance: int,
    privacy: PrivacySettings,
) -> None:
    """Accounts `first`..`last`, each with its identity (`telegram`, HISTORY_USERS + id), accepted terms
    (privacy profile, consent record), a trial entry and, one in ten, a purchase with its payment."""
    params = {
        "first": first,
        "last": last,
        "created": created,
        "balance": balance,
        "users": HISTORY_USERS,
        "terms": privacy.terms_version,
        "policy": privacy.policy_version,
    }
    with _written(connection):
        for statement in HISTORY_ACCOUNTS:
            connection.execute(statement, params)


def seed_history_jobs(
    connection: sqlite3.Connection,
    first: int,
    last: int,
    *,
    accounts: int,
    timeline: Timeline,
    hold_offset: int,
    heavy: int = 0,
    heavy_every: int = 0,
    uploads: int = 5_000,
    outbox_from: int = 0,
) -> None:
    """Finished jobs `first`..`last` of accounts 1..`accounts` (and one in `heavy_every` of account
    `heavy`), with their holds, ledger entries, outbox messages (those of jobs from `outbox_from` on),
    references, audit events, safety strikes and support tickets (two messages each). Hold number =
    job number + `hold_offset`."""
    for start in range(first, last + 1, HISTORY_CHUNK):
        params = {
            "first": start,
            "last": min(start + HISTORY_CHUNK - 1, last),
            "accounts": accounts,
            "users": HISTORY_USERS,
            "hold_offset": hold_offset,
            "heavy": heavy,
            "heavy_every": heavy_every,
            "uploads": uploads,
            "outbox_from": outbox_from,
            "t0": timeline.start,
            "step": timeline.step,
        }
        with _written(connection):
            tickets = connection.execute("SELECT coalesce(max(id), 0) FROM support_tickets").fetchone()[0]
            connection.execute(HISTORY_JOBS, params)
            for statement in HISTORY_DERIVED:
                connection.execute(statement, params)
            connection.execute(
                """INSERT INTO support_messages (ticket_id, author, body, created_at)
                SELECT id, 'user', 'My picture never arrived', created_at FROM support_tickets WHERE id > ?
                UNION ALL
                SELECT id, 'wecom:staff-1', 'Sorry: credits are back', closed_at
                FROM support_tickets WHERE id > ?""",
                (tickets, tickets),
            )


def seed_backlog(
    connection: sqlite3.Connection,
    first: int,
    *,
    queued: int,
    running: int,
    accounts: int,
    hold_offset: int,
    now: datetime,
) -> None:
    """The queue as it stands now: `running` jobs leased by another worker, then `queued` waiting,
    numbered from `first`, over accounts 1..`accounts`, with their holds and reserve entries."""
    params = {
        "first": first,
        "last": first + queued + running - 1,
        "running": running,
        "accounts": accounts,
        "users": HISTORY_USERS,
        "hold_offset": hold_offset,
        "now": sqlite_stamp(now),
        "lease_until": sqlite_stamp(now + timedelta(hours=1)),
    }
    with _written(connection):
        connection.execute(BACKLOG_JOBS, params)
        for statement in HISTORY_DERIVED[:2]:  # holds and reserve entries
            connection.execute(statement, params)


def count_account_queues(connection: sqlite3.Connection) -> None:
    """Rebuilds `account_queues` from the jobs, as migration 0011's backfill does (no-op without it)."""
    if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'account_queues'").fetchone():
        return
    with _written(connection):
        connection.execute("DELETE FROM account_queues")
        connection.execute(
            """INSERT INTO account_queues (account_id, running, queued, last_served_at, next_job_id)
            SELECT account_id, count(CASE WHEN status = 'running' THEN 1 END),
                count(CASE WHEN status = 'queued' THEN 1 END), coalesce(max(started_at), ?),
                min(CASE WHEN status = 'queued' THEN id END)
            FROM jobs GROUP BY account_id""",
            (sqlite_stamp(NEVER_SERVED),),
        )


@contextmanager
def _written(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


HISTORY_TABLES = (
    "accounts",
    "identities",
    "privacy_profiles",
    "consent_records",
    "payments",
    "jobs",
    "credit_holds",
    "ledger_entries",
    "deliveries",
    "job_references",
    "audit_events",
    "safety_strikes",
    "support_tickets",
    "support_messages",
    "account_queues",
)


def finish_backlog(connection: sqlite3.Connection, now: datetime) -> None:
    """Before the history grows past it: the queue and the undelivered messages left by the previous
    step are done (succeeded, settled, sent), so the queue stays the size `seed_backlog` makes it."""
    params = {"now": sqlite_stamp(now)}
    with _written(connection):
        connection.execute(
            """UPDATE jobs SET status = 'succeeded', finished_at = :now, lease_owner = NULL,
                lease_expires_at = NULL, started_at = coalesce(started_at, :now), attempts = max(attempts, 1)
            WHERE status IN ('queued', 'running')""",
            params,
        )
        connection.execute(
            "UPDATE credit_holds SET status = 'settled', closed_at = :now WHERE status = 'held'", params
        )
        connection.execute(
            """UPDATE deliveries SET status = 'sent', sent_at = :now, claimed_by = NULL, claimed_until = NULL
            WHERE status = 'pending'""",
            params,
        )


def seed_pending_deliveries(
    connection: sqlite3.Connection, count: int, *, chats: int, tag: str, now: datetime
) -> None:
    """`count` notices waiting in the outbox, over the private chats of accounts 1..`chats`."""
    params = {"count": count, "chats": chats, "tag": tag, "users": HISTORY_USERS, "now": sqlite_stamp(now)}
    with _written(connection):
        connection.execute(
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
            INSERT INTO deliveries (key, chat, payload, status, attempts, next_attempt_at, created_at)
            SELECT 'notice:' || :tag || ':' || i, 'telegram:private:' || (:users + i % :chats + 1),
                json_object('kind', 'notice', 'text', 'Your credits arrived'), 'pending', 0, :now, :now
            FROM n""",
            params,
        )


def next_numbers(connection: sqlite3.Connection) -> tuple[int, int]:
    """(the next job number, the offset from it to the next hold number)."""
    job = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM jobs").fetchone()[0]
    hold = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM credit_holds").fetchone()[0]
    return int(job), int(hold) - int(job)


def count(connection: sqlite3.Connection, table: str, where: str = "1") -> int:
    return int(connection.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])


def forget_delivered_before(connection: sqlite3.Connection, moment: datetime) -> None:
    """What the daily purge had removed while it ran: outbox messages done before `moment`."""
    with _written(connection):
        connection.execute(
            "DELETE FROM deliveries WHERE status != 'pending' AND created_at < ?", (sqlite_stamp(moment),)
        )
