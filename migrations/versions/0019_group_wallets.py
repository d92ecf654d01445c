"""group wallets: a group chat's shared credits with a per-member quota and a daily cap; jobs name
the wallet that paid, holds and ledger entries the member it paid for

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

When = core.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "group_wallets",
        sa.Column("chat", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("member_quota", sa.Integer(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("updated_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_group_wallets_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat", name=op.f("pk_group_wallets")),
        sa.UniqueConstraint("account_id", name=op.f("uq_group_wallets_account_id")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wallet_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_jobs_wallet_id_accounts"), "accounts", ["wallet_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index(
        "ix_jobs_wallet_created",
        "jobs",
        ["wallet_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("wallet_id IS NOT NULL"),
        sqlite_where=sa.text("wallet_id IS NOT NULL"),
    )
    with op.batch_alter_table("credit_holds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_credit_holds_member_id_accounts"),
            "accounts",
            ["member_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_entries_member_id_accounts"),
            "accounts",
            ["member_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_ledger_entries_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_member_id"))
        batch_op.drop_constraint(batch_op.f("fk_ledger_entries_member_id_accounts"), type_="foreignkey")
        batch_op.drop_column("member_id")
    with op.batch_alter_table("credit_holds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_credit_holds_member_id_accounts"), type_="foreignkey")
        batch_op.drop_column("member_id")
    op.drop_index("ix_jobs_wallet_created", table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_jobs_wallet_id_accounts"), type_="foreignkey")
        batch_op.drop_column("wallet_id")
    op.drop_table("group_wallets")
