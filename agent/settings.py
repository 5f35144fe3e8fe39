"""Where softloop keeps its files and which database it talks to.

Two environment variables decide everything, so that a cron job, a container and a laptop can
share one code path:

- `SOFTLOOP_HOME`: the data directory (default: the user's data dir, e.g.
  `~/.local/share/softloop` on Linux, `~/Library/Application Support/softloop` on macOS,
  `%LOCALAPPDATA%\\softloop` on Windows; `$XDG_DATA_HOME` is honoured).
- `SOFTLOOP_DATABASE_URL`: the store (default: an SQLite file `softloop.db` in the data dir).

The data directory's lookup lives in `prompts.home` (the model loader keeps converted
checkpoints there too); it is re-exported here.
"""

from __future__ import annotations

import os

from softloop.prompts.home import HOME_ENV, softloop_home

__all__ = [
    "DATABASE_URL_ENV",
    "HOME_ENV",
    "database_url",
    "default_database_url",
    "softloop_home",
]

DATABASE_URL_ENV = "SOFTLOOP_DATABASE_URL"


def default_database_url() -> str:
    """The SQLite file in the data directory; the only database softloop upgrades on its own."""
    return f"sqlite:///{softloop_home() / 'softloop.db'}"


def database_url() -> str:
    """`$SOFTLOOP_DATABASE_URL`, else the default SQLite file."""
    return os.environ.get(DATABASE_URL_ENV) or default_database_url()
