"""indexes and columns that let retention and erasure walk keys in small batches

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The stored files each existing job reads, from its `references` list.
BACKFILL = {
    "sqlite": (
        "INSERT INTO job_references (path, job_id) SELECT DISTINCT r.value, jobs.id "
        'FROM jobs, json_each(jobs."references") AS r '
        """WHERE json_type(jobs."references") = 'array' AND r.type = 'text'"""
    ),
    "postgresql": (
        "INSERT INTO job_references (path, job_id) SELECT DISTINCT r.path, jobs.id FROM jobs "
        """CROSS JOIN LATERAL json_array_elements_text(CASE WHEN json_typeof(jobs."references") = 'array' """
        """THEN jobs."references" ELSE '[]'::json END) AS r(path)"""
    ),
}


# Outbox keys sort by code point, so that `key >= 'job:7:' AND key < 'job:7;'` finds exactly the keys
# that start with `job:7:` (a language's collation orders punctuation otherwise). SQLite always does.
KEY_BY_CODE_POINT = sa.String(length=160, collation="C")


def upgrade() -> None:
    op.create_table(
        "job_references",
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_references_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("path", "job_id", name=op.f("pk_job_references")),
    )
    with op.batch_alter_table("job_references", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_references_job_id"), ["job_id"], unique=False)
    op.execute(BACKFILL[op.get_bind().dialect.name])
    if op.get_bind().dialect.name == "postgresql":  # erasure reads keys by prefix, as ranges
        op.alter_column("deliveries", "key", type_=KEY_BY_CODE_POINT, existing_type=sa.String(length=160))

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_parent_id"), ["parent_id"], unique=False)

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_chat"), ["chat"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor"), ["actor"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("deliveries", "key", type_=sa.String(length=160), existing_type=KEY_BY_CODE_POINT)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_actor"))

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_chat"))

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_parent_id"))

    with op.batch_alter_table("job_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_references_job_id"))

    op.drop_table("job_references")
