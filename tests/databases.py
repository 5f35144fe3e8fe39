"""The test PostgreSQL server: where it is, and creating and dropping throw-away databases on it.

Set `SOFTLOOP_TEST_PG_URL` to use another server (an admin URL to its maintenance database).
"""

from __future__ import annotations

import os
import secrets

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "SOFTLOOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


class PgServer:
    """Creates and drops databases on the test PostgreSQL server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.prefix = f"softloop_test_{secrets.token_hex(4)}"
        self.created: list[str] = []

    def check(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("select 1"))
        except Exception as err:
            pytest.fail(
                f"PostgreSQL is required for the store tests and is not reachable at "
                f"{make_url(self.admin_url).render_as_string(hide_password=True)}: {err}. "
                "Start it (service postgresql start) or set SOFTLOOP_TEST_PG_URL.",
                pytrace=False,
            )

    def create(self, suffix: str = "") -> str:
        name = f"{self.prefix}{suffix}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            with self.engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()
