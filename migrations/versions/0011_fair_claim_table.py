"""per-account queue counts and last-served times that keep the job claim cheap

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_queues",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("last_served_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_job_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_queues_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_queues")),
    )
    op.create_index(
        "ix_account_queues_turn",
        "account_queues",
        ["running", "last_served_at", "next_job_id"],
        unique=False,
        postgresql_where=sa.text("queued > 0"),
        sqlite_where=sa.text("queued > 0"),
    )
    op.create_index(
        "ix_jobs_backoff",
        "jobs",
        ["not_before"],
        unique=False,
        postgresql_where=sa.text("status = 'queued' AND not_before IS NOT NULL"),
        sqlite_where=sa.text("status = 'queued' AND not_before IS NOT NULL"),
    )
    # Every account with jobs: its running and queued jobs, when one of them last started (never: the
    # models' NEVER_SERVED, as SQLAlchemy writes it), and its oldest queued one.
    never = "'1970-01-01 00:00:00.000000'"
    if op.get_bind().dialect.name == "postgresql":
        never = "'1970-01-01 00:00:00+00'::timestamptz"
    op.execute(
        f"""
        INSERT INTO account_queues (account_id, running, queued, last_served_at, next_job_id)
        SELECT account_id,
            count(CASE WHEN status = 'running' THEN 1 END),
            count(CASE WHEN status = 'queued' THEN 1 END),
            coalesce(max(started_at), {never}),
            min(CASE WHEN status = 'queued' THEN id END)
        FROM jobs
        GROUP BY account_id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_backoff", table_name="jobs")
    op.drop_index("ix_account_queues_turn", table_name="account_queues")
    op.drop_table("account_queues")
