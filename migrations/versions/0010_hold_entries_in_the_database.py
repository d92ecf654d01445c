"""a credit hold's ledger entries are written by the database, with the hold

Opening a hold writes its reserve entries; closing it writes its settle or refund entries and, for a
refund, puts the credits back. Each is one statement from the application, so a hold can never
exist without the entries that explain it, and the ledger's hot path saves a round trip per step.
SQLite and PostgreSQL get the same rules, in their own dialects.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BUCKETS = (("subscription", "subscription_amount"), ("one_time", "one_time_amount"))


def _entries(kind: str, delta: str, at: str) -> list[str]:
    """One INSERT per bucket the hold took from, subscription first (the order they were spent in).
    `delta` and `at` are SQL over the hold's row, NEW."""
    return [
        "INSERT INTO ledger_entries (account_id, bucket, delta, kind, reference, idempotency_key, created_at)"
        f" SELECT NEW.account_id, '{bucket}', {delta.format(amount=f'NEW.{amount}')}, '{kind}',"
        f" coalesce(NEW.reference, 'hold:' || NEW.id), 'hold:' || NEW.id || ':{kind}:{bucket}', {at}"
        f" WHERE NEW.{amount} > 0;"
        for bucket, amount in BUCKETS
    ]


GIVE_BACK = (
    "UPDATE accounts SET balance_subscription = balance_subscription + NEW.subscription_amount,"
    " balance_one_time = balance_one_time + NEW.one_time_amount WHERE id = NEW.account_id;"
)

# (name, event, condition, statements)
RULES = (
    ("hold_opened", "AFTER INSERT", None, _entries("reserve", "-{amount}", "NEW.created_at")),
    (
        "hold_settled",
        "AFTER UPDATE OF status",
        "OLD.status = 'held' AND NEW.status = 'settled'",
        _entries("settle", "0", "NEW.closed_at"),
    ),
    (
        "hold_refunded",
        "AFTER UPDATE OF status",
        "OLD.status = 'held' AND NEW.status = 'refunded'",
        [GIVE_BACK, *_entries("refund", "{amount}", "NEW.closed_at")],
    ),
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, event, condition, statements in RULES:
        body = "\n    ".join(statements)
        when = f" WHEN ({condition})" if condition else ""
        if postgres:
            op.execute(
                f"CREATE FUNCTION ledger_{name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n    {body}\n    RETURN NULL;\nEND $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} {event} ON credit_holds FOR EACH ROW{when}"
                f" EXECUTE FUNCTION ledger_{name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} {event} ON credit_holds FOR EACH ROW{when}\nBEGIN\n    {body}\nEND"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, *_ in RULES:
        if postgres:
            op.execute(f"DROP TRIGGER {name} ON credit_holds")
            op.execute(f"DROP FUNCTION ledger_{name}()")
        else:
            op.execute(f"DROP TRIGGER {name}")
