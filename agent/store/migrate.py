"""Alembic, driven from code: the config points at the installed `softloop.migrations` folder.

No alembic.ini is needed (a wheel install has none at hand). Every entry point (the Store's
automatic upgrade, `softloop db ...`, the tests) hands Alembic an open connection through
`config.attributes["connection"]`, so they all run the same path in `migrations/env.py`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection


def _scripts_dir() -> Path:
    """The installed `softloop.migrations` folder, found without importing it.

    Found through softloop's own package, never a `migrations/` folder on `sys.path`: a user's
    project may have its own.
    """
    spec = importlib.util.find_spec("softloop.migrations")
    assert spec is not None and spec.submodule_search_locations, "softloop.migrations is missing"
    return Path(next(iter(spec.submodule_search_locations)))


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged scripts, bound to a URL or an open connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_scripts_dir()))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ini interpolation
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this softloop ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations package has no revisions"
    return head


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection=connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection=connection), revision)
