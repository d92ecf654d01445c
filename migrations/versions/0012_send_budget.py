"""one send budget per bot token, shared by every process

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# One send on a token, atomically (`core/db/repositories/send_pace.py` calls it): with the token's row
# locked, a chat not free yet reserves nothing and is told how long to wait; otherwise the send takes
# the token's next slot (GCRA: slot = max(next free, now, held until); next free = slot + spacing) and
# the chat's next free moment follows from that slot. In seconds from now on the database's clock, so
# processes agree; with what is left of the token's hold, so each process learns of one.
TAKE = """
CREATE FUNCTION send_pace_take(
    p_key text, p_chat text, p_spacing double precision, p_chat_spacing double precision
) RETURNS TABLE (wait_s double precision, taken boolean, held_s double precision)
LANGUAGE plpgsql AS $$
DECLARE
    token send_paces%ROWTYPE;
    chat_free timestamptz;
    now_ timestamptz;
    slot timestamptz;
    held double precision;
BEGIN
    SELECT * INTO token FROM send_paces WHERE key = p_key FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO send_paces (key, next_free, held_until)
            VALUES (p_key, clock_timestamp(), clock_timestamp())
            ON CONFLICT (key) DO NOTHING;
        SELECT * INTO token FROM send_paces WHERE key = p_key FOR UPDATE;
    END IF;
    now_ := clock_timestamp();
    held := greatest(extract(epoch FROM token.held_until - now_), 0);
    SELECT next_free INTO chat_free FROM send_chat_paces WHERE key = p_key AND chat = p_chat;
    IF chat_free > now_ THEN
        RETURN QUERY SELECT extract(epoch FROM chat_free - now_)::double precision, false, held;
        RETURN;
    END IF;
    IF p_spacing IS NULL THEN  -- the chat's turn alone (an edit): the token's queue is not joined
        slot := greatest(now_, token.held_until);
    ELSE
        slot := greatest(token.next_free, now_, token.held_until);
        UPDATE send_paces SET next_free = slot + make_interval(secs => p_spacing) WHERE key = p_key;
    END IF;
    INSERT INTO send_chat_paces (key, chat, next_free)
        VALUES (p_key, p_chat, slot + make_interval(secs => p_chat_spacing))
        ON CONFLICT (key, chat) DO UPDATE SET next_free = excluded.next_free;
    RETURN QUERY SELECT extract(epoch FROM slot - now_)::double precision, true, held;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "send_paces",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("next_free", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("held_until", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_paces")),
    )
    op.create_table(
        "send_chat_paces",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("chat", sa.String(length=200), nullable=False),
        sa.Column("next_free", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "chat", name=op.f("pk_send_chat_paces")),
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite's budget lives in the process's memory
        op.execute(TAKE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION send_pace_take(text, text, double precision, double precision)")
    op.drop_table("send_chat_paces")
    op.drop_table("send_paces")
