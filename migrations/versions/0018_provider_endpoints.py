"""image providers as a list: the provider window per endpoint (with each call's end and outcome) and
a circuit breaker per endpoint

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

When = core.db.types.UTCDateTime


def upgrade() -> None:
    # The window's calls of the last minutes, from before endpoints had names: nothing to keep.
    op.execute("DELETE FROM provider_calls")
    with op.batch_alter_table("provider_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("endpoint", sa.String(length=64), nullable=False))
        batch_op.add_column(sa.Column("finished_at", When(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.create_index(
            "ix_provider_calls_endpoint_started_at", ["endpoint", "started_at"], unique=False
        )
    op.create_table(
        "provider_breakers",
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("open_until", When(timezone=True), nullable=True),
        sa.Column("probe_at", When(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=32), nullable=True),
        sa.Column("last_error_at", When(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("endpoint", name=op.f("pk_provider_breakers")),
    )


def downgrade() -> None:
    op.drop_table("provider_breakers")
    with op.batch_alter_table("provider_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_calls_endpoint_started_at")
        batch_op.drop_column("outcome")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("endpoint")
