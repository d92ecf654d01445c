"""support tickets linked to the job they report (`/report`): at most one ticket per job

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_support_tickets_job_id_jobs"), "jobs", ["job_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index(batch_op.f("ix_support_tickets_job_id"), ["job_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_tickets_job_id"))
        batch_op.drop_constraint(batch_op.f("fk_support_tickets_job_id_jobs"), type_="foreignkey")
        batch_op.drop_column("job_id")
