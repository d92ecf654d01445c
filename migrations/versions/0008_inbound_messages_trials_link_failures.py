"""inbound message ids, trial grants and wrong link codes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("seen_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_inbound_messages")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_messages_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "trial_grants",
        sa.Column("identity_hash", sa.String(length=64), nullable=False),
        sa.Column("granted_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("identity_hash", name=op.f("pk_trial_grants")),
    )

    op.create_table(
        "link_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=170), nullable=False),
        sa.Column("at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_failures")),
    )
    with op.batch_alter_table("link_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_failures_identity"), ["identity"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_failures_identity"))
    op.drop_table("link_failures")
    op.drop_table("trial_grants")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_seen_at"))
    op.drop_table("inbound_messages")
