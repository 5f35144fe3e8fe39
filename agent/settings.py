"""Where softloop keeps its files and which database it talks to.

Two environment variables decide everything, so that a cron job, a container and a laptop can
share one code path:

- `SOFTLOOP_HOME`: the data directory (default: the user's data dir, e.g.
  `~/.local/share/softloop` on Linux, `~/Library/Application Support/softloop` on macOS,
  `%LOCALAPPDATA%\\softloop` on Windows; `$XDG_DATA_HOME` is honoured).
- `SOFTLOOP_DATABASE_URL`: the store (default: an SQLite file `softloop.db` in the data dir).

The lookup mirrors what `platformdirs.user_data_dir` does, without the dependency.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "SOFTLOOP_HOME"
DATABASE_URL_ENV = "SOFTLOOP_DATABASE_URL"


def _user_data_dir() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    xdg = os.environ.get("XDG_DATA_HOME")
    # XDG says a relative value is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg)
    return Path.home() / ".local" / "share"


def softloop_home() -> Path:
    """The data directory: `$SOFTLOOP_HOME`, else `<user data dir>/softloop`. Not created here."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return _user_data_dir() / "softloop"


def default_database_url() -> str:
    """The SQLite file in the data directory; the only database softloop upgrades on its own."""
    return f"sqlite:///{softloop_home() / 'softloop.db'}"


def database_url() -> str:
    """`$SOFTLOOP_DATABASE_URL`, else the default SQLite file."""
    return os.environ.get(DATABASE_URL_ENV) or default_database_url()
