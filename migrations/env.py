"""Alembic environment for the softloop store.

The connection comes from whoever runs the migrations: a caller (the Store, `softloop db`,
the tests) hands an open one in `config.attributes["connection"]`; otherwise an engine is made
from `sqlalchemy.url` or, failing that, from softloop's settings (`SOFTLOOP_DATABASE_URL`).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from softloop.agent.settings import database_url
from softloop.agent.store.engine import make_engine
from softloop.agent.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """`--sql` mode: print the DDL instead of running it."""
    url = config.get_main_option("sqlalchemy.url") or database_url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    _configure(
        connection=connection,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=sqlite,
        # SQLite's DDL is transactional too; say so, so a failed upgrade leaves nothing behind.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or database_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
