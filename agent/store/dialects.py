"""Where SQLite and PostgreSQL differ in the store's SQL, in one place.

Everything else in the store is written once for both. Engine settings per database (SQLite's
WAL and busy timeout, its write transactions) live in `engine.py`; column types that vary live
in the models (`with_variant`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

POSTGRESQL = "postgresql"


def dialect_name(session: Session | Connection) -> str:
    bind = session if isinstance(session, Connection) else session.get_bind()
    return bind.dialect.name


def insert(dialect: str, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` support: both dialects spell it alike, from different modules."""
    return (pg_insert if dialect == POSTGRESQL else sqlite_insert)(table)


def now(session: Session) -> datetime:
    """The current time, from the database server where there is one (many machines agree)."""
    if dialect_name(session) == POSTGRESQL:
        value = session.scalar(select(func.now()))
        assert value is not None
        return value.astimezone(UTC)
    return datetime.now(UTC)  # SQLite: the one machine that has the file


def day_of(session: Session, column: Any) -> ColumnElement[Any]:
    """`YYYY-MM-DD` (UTC) of a timestamp column, for grouping by day."""
    if dialect_name(session) == POSTGRESQL:
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite stores naive UTC 'YYYY-MM-DD HH:MM:SS'


def lock_name(session: Session, name: str, scope: str = "refine") -> None:
    """Hold a lock on `name` until the transaction ends, so two writers take turns.

    `scope` keeps unrelated locks on one name apart (a refiner's lease, a prompt registration).
    PostgreSQL: a transaction-scoped advisory lock. SQLite needs none: a write transaction
    already holds the whole database (the store begins them IMMEDIATE).
    """
    if dialect_name(session) == POSTGRESQL:
        session.execute(select(func.pg_advisory_xact_lock(_advisory_key(name, scope))))


def _advisory_key(name: str, scope: str) -> int:
    # A stable signed 64-bit key per name (Python's hash() differs between processes).
    digest = hashlib.blake2b(f"softloop.{scope}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def insert_or_ignore(session: Session, table: Any, values: dict[str, Any], returning: Any) -> Any:
    """Insert one row unless a unique constraint already holds one like it; `returning` or None.

    `INSERT ... ON CONFLICT DO NOTHING RETURNING ...`: the database itself decides who wins a
    race, and the loser's transaction goes on (no savepoint, no error to catch).
    """
    stmt = insert(dialect_name(session), table).values(**values)
    return session.execute(stmt.on_conflict_do_nothing().returning(returning)).scalar()
