"""Shared fixtures: the store's databases, SQLite and a real PostgreSQL, side by side.

`db_url` is parametrised over both back ends and hands each test a migrated, empty database:
on SQLite a fresh file (copied from a template migrated once), on PostgreSQL a throw-away
database created once per test session (`softloop_test_<random>`), truncated between tests and
dropped at the end. PostgreSQL is not optional: if the server cannot be reached the tests fail
loudly rather than skip, so a green run always means both back ends were exercised.

Set `SOFTLOOP_TEST_PG_URL` to use another server (an admin URL to its maintenance database).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import create_engine, text

from tests.databases import BACKENDS, PG_ADMIN_URL, PgServer
from tests.runs import build_run

# Every model in the tests is tiny: one thread is several times faster than torch's default on
# a 2-core machine and does not collapse when another process holds a core (prompts/threads.py).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer(PG_ADMIN_URL)
    server.check()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_session_url(pg_server: PgServer) -> str:
    """One migrated PostgreSQL database for the whole session."""
    from softloop.agent.store import Store

    url = pg_server.create()
    store = Store(url, auto_upgrade=False)
    store.upgrade()
    store.close()
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    from softloop.agent.store import Store

    path = tmp_path_factory.mktemp("template") / "softloop.db"
    store = Store(f"sqlite:///{path}", auto_upgrade=False)
    store.upgrade()
    store.close()
    return path


def _truncate_all(url: str) -> None:
    from softloop.agent.store import Base

    engine = create_engine(url)
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on `backend` (sqlite or postgresql)."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "softloop.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_session_url")
    _truncate_all(url)
    return url


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists but has never been migrated."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create(f"_{secrets.token_hex(3)}")
    yield url
    server.drop(url)


@pytest.fixture
def store(db_url: str) -> Iterator[object]:
    """A `Store` on a migrated, empty database of each back end."""
    from softloop.agent.store import Store

    s = Store(db_url, auto_upgrade=False)
    yield s
    s.close()


@pytest.fixture
def make_run() -> object:
    """Factory for sample `RunRecord`s: `make_run(task=, input=, answers=(...), status=)`."""
    return build_run
