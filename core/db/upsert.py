"""INSERT ... ON CONFLICT, which SQLAlchemy builds in each dialect's own module."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def insert(session: AsyncSession, table: Table | type[DeclarativeBase]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can say what a conflict does, for the session's database."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Table | type[DeclarativeBase]) -> postgresql.Insert | sqlite.Insert:
    """The same for a dialect by name, for statements built once ahead of any session."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
