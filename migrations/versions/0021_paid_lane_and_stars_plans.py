"""a paid lane: each job's lane, decided when it is queued, and each account queue's lane, by which
the claim walks its turns; subscriptions by the end of their paid period (Stars subscriptions lapse)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

QUEUED = sa.text("queued > 0")


def upgrade() -> None:
    # Jobs queued before lanes existed keep their place: they are all in the paid lane.
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.String(length=8), server_default="paid", nullable=False))
    with op.batch_alter_table("account_queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.String(length=8), server_default="paid", nullable=False))
    op.drop_index("ix_account_queues_turn", table_name="account_queues")
    op.create_index(
        "ix_account_queues_turn",
        "account_queues",
        ["lane", "running", "last_served_at", "next_job_id"],
        unique=False,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.create_index(
        "ix_account_queues_head",
        "account_queues",
        ["lane", "next_job_id"],
        unique=False,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.create_index(
        "ix_subscriptions_current_period_end", "subscriptions", ["current_period_end"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_current_period_end", table_name="subscriptions")
    op.drop_index("ix_account_queues_head", table_name="account_queues")
    op.drop_index("ix_account_queues_turn", table_name="account_queues")
    op.create_index(
        "ix_account_queues_turn",
        "account_queues",
        ["running", "last_served_at", "next_job_id"],
        unique=False,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    with op.batch_alter_table("account_queues", schema=None) as batch_op:
        batch_op.drop_column("lane")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("lane")
