"""/privacy keep off: whether an account keeps its history, whether each job is kept, when an unkept
job's content was erased, and the index the upkeep walks to find what is due

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

When = core.db.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("privacy_profiles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keep_history", sa.Boolean(), server_default=sa.text("true"), nullable=False)
        )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kept", sa.Boolean(), server_default=sa.text("true"), nullable=False))
        batch_op.add_column(sa.Column("erased_at", When(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_jobs_unkept",
            ["finished_at"],
            unique=False,
            postgresql_where=sa.text("kept = false AND erased_at IS NULL"),
            sqlite_where=sa.text("kept = 0 AND erased_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_jobs_unkept",
            postgresql_where=sa.text("kept = false AND erased_at IS NULL"),
            sqlite_where=sa.text("kept = 0 AND erased_at IS NULL"),
        )
        batch_op.drop_column("erased_at")
        batch_op.drop_column("kept")
    with op.batch_alter_table("privacy_profiles", schema=None) as batch_op:
        batch_op.drop_column("keep_history")
