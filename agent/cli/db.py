"""`softloop db upgrade | current | downgrade | replay`: the store's schema, and spooled runs."""

from __future__ import annotations

import click

from softloop.agent.cli.options import db_option
from softloop.prompts.errors import SoftloopError


def _where(store) -> str:
    from softloop.agent.store.engine import safe_url

    return safe_url(store.url)


def _store(db_url: str | None):
    from softloop.agent.store import Store

    return Store(db_url, auto_upgrade=False)


@click.group()
def db() -> None:
    """Manage the store's database schema (Alembic migrations).

    \b
    Examples:
      softloop db upgrade
      softloop db current --db postgresql+psycopg://user@host/softloop
    """


@db.command()
@click.argument("revision", default="head")
@db_option
def upgrade(revision: str, db_url: str | None) -> None:
    """Apply migrations up to REVISION (default: the newest); creates a missing SQLite file.

    \b
    Example:
      SOFTLOOP_DATABASE_URL=postgresql+psycopg://me@db/softloop softloop db upgrade
    """
    store = _store(db_url)
    before = store.current_revision()
    after = store.upgrade(revision)
    if before == after:
        click.echo(f"{_where(store)} is already at revision {after}")
    else:
        click.echo(f"upgraded {_where(store)} from {before or 'an empty schema'} to {after}")


@db.command()
@db_option
def current(db_url: str | None) -> None:
    """Print the database's schema revision and whether it is the newest.

    \b
    Example:
      softloop db current
    """
    from softloop.agent.store.migrate import known_revisions

    store = _store(db_url)
    rev, head = store.current_revision(), store.head_revision()
    if rev == head:
        click.echo(f"{rev} (head)")
    elif rev is not None and rev not in known_revisions():
        click.echo(f"{rev} (newer than this softloop knows, up to {head}; upgrade softloop)")
    elif rev is None:
        click.echo(f"none (empty database; run `softloop db upgrade` to reach {head})")
    else:
        click.echo(f"{rev} (the newest is {head}; run `softloop db upgrade`)")


@db.command()
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def downgrade(revision: str, yes: bool, db_url: str | None) -> None:
    """Revert migrations down to REVISION ('base' drops every table and its data).

    \b
    Example:
      softloop db downgrade base --yes
    """
    store = _store(db_url)
    if not yes:
        click.confirm(
            f"Downgrade {_where(store)} to {revision}? Data in dropped tables is lost", abort=True
        )
    click.echo(f"downgraded {_where(store)} to {store.downgrade(revision) or 'base (empty)'}")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@db_option
def replay(as_json: bool, db_url: str | None) -> None:
    """Store the runs spooled to $SOFTLOOP_HOME/unsaved-runs.jsonl while the database was down.

    Idempotent: a run already stored is not stored again, so replaying twice adds nothing.
    Lines that can never be stored are moved to refused-runs.jsonl, each with its reason.

    \b
    Example:
      softloop db replay
    """
    from softloop.agent.cli.options import echo_json
    from softloop.agent.cli.text import printable
    from softloop.agent.store.spool import REFUSED_NAME
    from softloop.agent.store.spool import replay as replay_spool

    store = _store(db_url)
    try:
        report = replay_spool(store)
    finally:
        store.close()
    if as_json:
        echo_json(report.model_dump(mode="json"))
    else:
        click.echo(f"{_where(store)}: {report.summary()}")
        for reason in report.refused:
            click.echo(f"refused: {printable(reason)}", err=True)
    if report.refused:
        n = len(report.refused)
        raise SoftloopError(
            f"{n} spooled run{'s' * (n != 1)} cannot be stored and "
            f"{'were' if n != 1 else 'was'} moved to {report_path(REFUSED_NAME)}"
        )
    if report.kept:
        raise SoftloopError(
            f"{report.kept} run{'s' * (report.kept != 1)} could not be stored yet (the database "
            "is unreachable); they stay spooled, so run `softloop db replay` again later"
        )


def report_path(name: str) -> str:
    from softloop.agent.settings import softloop_home

    return str(softloop_home() / name)
