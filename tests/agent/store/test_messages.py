"""What the store says when something is wrong (issue 16, defects 10, 11 and 14).

A database migrated by a newer softloop, a URL with a password in it (parseable or not), a
read-only SQLite file: each gets one sentence that names the real problem, masks the password and
never shows a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from softloop.agent.cli import main
from softloop.agent.store import SchemaOutdatedError, Store, StoreError
from softloop.agent.store.engine import safe_url

SECRET = "hunter2"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://me:{SECRET}@db.example:5432/softloop",
        f"postgresql://me:{SECRET}@db.example:notaport/softloop",  # no port number
        f"://me:{SECRET}@db.example/softloop",  # no scheme: not a URL at all
        f"postgresql+psycopg://me@db.example/softloop?password={SECRET}",
    ],
)
def test_a_password_is_masked_whatever_the_url(url: str) -> None:
    shown = safe_url(url)
    assert SECRET not in shown and "***" in shown


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://me:{SECRET}@db.example:notaport/x",
        f"://me:{SECRET}@db.example/x",
        f"nosuchdb://me:{SECRET}@db.example/x",  # no such database kind
        f"mysql://me:{SECRET}@db.example/x",  # a kind whose driver is not installed
    ],
)
def test_an_unusable_url_is_one_line_without_the_password(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["history", "--db", url])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot ") and "database URL" in err and err.count("\n") == 1
    assert SECRET not in err and "Traceback" not in err


def test_db_upgrade_on_a_newer_schema_says_to_upgrade_softloop(
    empty_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(empty_db_url, auto_upgrade=False)
    store.upgrade()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaOutdatedError, match="newer than this softloop knows; upgrade"):
        store.upgrade()
    for command in (["db", "upgrade"], ["db", "downgrade", "base", "--yes"]):
        with pytest.raises(SystemExit) as stop:
            main([*command, "--db", empty_db_url])
        assert stop.value.code == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "upgrade softloop" in err, err
    result = CliRunner().invoke(main_cli(), ["db", "current", "--db", empty_db_url])
    assert result.output.startswith("9999 (newer than this softloop knows")
    assert "upgrade softloop" in result.output and "softloop db upgrade" not in result.output
    store.close()


def main_cli():
    from softloop.agent.cli import cli

    return cli


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_read_only_sqlite_file_is_called_read_only(db_url: str, make_run) -> None:
    path = Path(db_url.removeprefix("sqlite:///"))
    read_only = Store(f"sqlite:///file:{path}?mode=ro&uri=true", auto_upgrade=False)
    assert read_only.list_runs() == []  # reading works
    with pytest.raises(StoreError) as err:
        read_only.record_run(make_run())
    assert "is read-only" in str(err.value) and "cannot reach" not in str(err.value)
    read_only.close()
