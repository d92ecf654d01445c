"""each chat's status message, shared by every process on one bot token

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_boards",
        sa.Column("chat", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("shows_photo", sa.Boolean(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("preview_of", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("edited_at", core.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("editor", sa.String(length=64), nullable=True),
        sa.Column("editor_until", core.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("chat", name=op.f("pk_status_boards")),
    )


def downgrade() -> None:
    op.drop_table("status_boards")
