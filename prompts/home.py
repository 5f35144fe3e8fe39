"""Where softloop keeps its files: `$SOFTLOOP_HOME`, else the user's data directory.

It lives with the prompts because the model loader keeps converted checkpoints there too
(`prompts.gguf`), and the prompts package imports nothing above it; `agent.settings` re-exports
it with the database settings.

The lookup mirrors what `platformdirs.user_data_dir` does, without the dependency.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "SOFTLOOP_HOME"


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
