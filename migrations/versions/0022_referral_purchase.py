"""the purchase that paid an invitation's rewards, so that its refund takes them back, and what of
them was spent before

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("shortfall", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_referrals_payment_id"), ["payment_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_referrals_payment_id_payments"),
            "payments",
            ["payment_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_referrals_payment_id_payments"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_referrals_payment_id"))
        batch_op.drop_column("shortfall")
        batch_op.drop_column("payment_id")
