"""Migrations agree with the models, go both ways, and are never applied behind a user's back."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from softloop.agent.store import Base, SchemaOutdatedError, Store
from softloop.agent.store.engine import make_engine


def _diff(url: str) -> list:
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_downgrade_upgrade_matches_the_models(empty_db_url: str) -> None:
    store = Store(empty_db_url, auto_upgrade=False)
    head = store.head_revision()
    assert store.upgrade() == head
    assert _diff(empty_db_url) == []
    assert store.downgrade("base") is None
    assert _tables(empty_db_url) <= {"alembic_version"}
    assert store.upgrade() == head
    assert _diff(empty_db_url) == []
    assert store.list_runs() == []
    store.close()


def test_an_unmigrated_database_is_never_altered_silently(empty_db_url: str, backend: str) -> None:
    if backend == "sqlite":  # the file must exist to be "an empty database"
        make_engine(empty_db_url).connect().close()
    store = Store(empty_db_url)  # not the default URL, so no automatic upgrade
    with pytest.raises(SchemaOutdatedError, match=r"none \(empty\).*run `softloop db upgrade`"):
        store.list_runs()
    assert store.current_revision() is None
    assert _tables(empty_db_url) <= {"alembic_version"}
    store.close()


def test_an_old_schema_is_reported(empty_db_url: str) -> None:
    store = Store(empty_db_url, auto_upgrade=False)
    store.upgrade()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaOutdatedError, match="newer than this softloop knows"):
        Store(empty_db_url).list_runs()
    store.close()


def test_a_missing_sqlite_file_is_not_created(tmp_path) -> None:
    path = tmp_path / "elsewhere.db"
    with pytest.raises(SchemaOutdatedError, match="no database file"):
        Store(f"sqlite:///{path}").list_runs()
    assert not path.exists()


def test_the_default_database_is_created_and_upgraded_on_first_use(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path / "new" / "home"))
    monkeypatch.delenv("SOFTLOOP_DATABASE_URL", raising=False)
    store = Store()
    assert store.list_runs() == []
    assert (tmp_path / "new" / "home" / "softloop.db").exists()
    assert store.current_revision() == store.head_revision()
    store.close()


def test_first_use_of_the_default_database_from_many_threads(tmp_path, monkeypatch) -> None:
    import threading

    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SOFTLOOP_DATABASE_URL", raising=False)
    barrier, errors = threading.Barrier(4), []

    def first_use() -> None:
        barrier.wait()
        try:
            Store().list_runs()
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
