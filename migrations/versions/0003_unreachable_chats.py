"""unreachable chats

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unreachable_chats",
        sa.Column("chat", sa.String(length=200), nullable=False),
        sa.Column("keep_pending", sa.Boolean(), nullable=False),
        sa.Column("since", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat", name=op.f("pk_unreachable_chats")),
    )


def downgrade() -> None:
    op.drop_table("unreachable_chats")
