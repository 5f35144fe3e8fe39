"""Shared fixtures: the store's databases, SQLite and a real PostgreSQL, side by side.

`db_url` is parametrised over both back ends and hands each test a migrated, empty database:
on SQLite a fresh file (copied from a template migrated once), on PostgreSQL a throw-away
database created once per test session (`softloop_test_<random>`), truncated between tests and
dropped at the end. PostgreSQL is not optional: if the server cannot be reached the tests fail
loudly rather than skip, so a green run always means both back ends were exercised.

Set `SOFTLOOP_TEST_PG_URL` to use another server (an admin URL to its maintenance database).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "SOFTLOOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]

# Every model in the tests is tiny: one thread is several times faster than torch's default on
# a 2-core machine and does not collapse when another process holds a core (prompts/threads.py).
torch.set_num_threads(1)


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


def build_run(
    task: str = "reverse",
    input: str = "abc",
    answers: tuple[str, ...] = ("cbx", "cba"),
    status: str = "passed",
    **fields: object,
) -> object:
    """A `RunRecord` with one attempt per answer; every attempt but the last is critiqued 'fail'."""
    from softloop.agent.store import AttemptRecord, CritiqueRecord, RunRecord

    attempts = []
    for i, answer in enumerate(answers, start=1):
        last = i == len(answers)
        verdict = "pass" if last and status == "passed" else "fail"
        attempts.append(
            AttemptRecord(
                round=i,
                output=answer,
                prompt_name=task if i == 1 else "revise",
                prompt_version=1,
                latency_s=0.01 * i,
                oracle_correct=answer == input[::-1],
                critiques=[
                    CritiqueRecord(
                        critic="soft_prompt",
                        verdict=verdict,
                        score=0.9 if verdict == "pass" else 0.2,
                        feedback="" if verdict == "pass" else f"round {i}: not the reverse",
                    )
                ],
            )
        )
    fields.setdefault("prompt_versions", {task: 1, "critique": 1, "revise": 1})
    return RunRecord(
        task=task,
        input=input,
        final_output=answers[-1] if answers else None,
        status=status,
        attempts=attempts,
        **fields,
    )


@pytest.fixture
def make_run() -> object:
    """Factory for sample `RunRecord`s: `make_run(task=, input=, answers=(...), status=)`."""
    return build_run
