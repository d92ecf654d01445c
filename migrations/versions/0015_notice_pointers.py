"""the group to point to when a person's private chat refuses the bot

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_pointers",
        sa.Column("chat", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("updated_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_notice_pointers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat", name=op.f("pk_notice_pointers")),
    )
    op.create_index(op.f("ix_notice_pointers_account_id"), "notice_pointers", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notice_pointers_account_id"), table_name="notice_pointers")
    op.drop_table("notice_pointers")
