"""credit codes (hashed), failed redemptions per account, invitation codes and referrals

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

When = core.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "redeem_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("expires_at", When(timezone=True), nullable=True),
        sa.Column("disabled_at", When(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=170), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.CheckConstraint("used <= uses", name=op.f("ck_redeem_codes_used_within_uses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redeem_codes")),
        sa.UniqueConstraint("digest", name=op.f("uq_redeem_codes_digest")),
    )
    op.create_table(
        "code_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_code_failures_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_failures")),
    )
    op.create_index("ix_code_failures_account_id_at", "code_failures", ["account_id", "at"], unique=False)
    op.create_table(
        "invite_codes",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("chat", sa.String(length=200), nullable=True),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_invite_codes_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_invite_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_invite_codes_code")),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitee_id", sa.Integer(), nullable=False),
        sa.Column("inviter_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.Column("rewarded_at", When(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invitee_id"], ["accounts.id"], name=op.f("fk_referrals_invitee_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["accounts.id"], name=op.f("fk_referrals_inviter_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("invitee_id", name=op.f("uq_referrals_invitee_id")),
    )
    op.create_index(op.f("ix_referrals_inviter_id"), "referrals", ["inviter_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_referrals_inviter_id"), table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("invite_codes")
    op.drop_index("ix_code_failures_account_id_at", table_name="code_failures")
    op.drop_table("code_failures")
    op.drop_table("redeem_codes")
