"""The CLI driven against a store: in-process with click's runner, or as a real `softloop`
process with its own $SOFTLOOP_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from softloop.agent.cli import cli
from softloop.agent.store import Store

ROOT = Path(__file__).resolve().parents[3]
TASK = "t"


def invoke(store: Store, *args: str) -> Result:
    """`softloop ARGS` in-process against `store` (user errors surface as result.exception)."""
    return CliRunner().invoke(cli, list(args), env={"SOFTLOOP_DATABASE_URL": store.url})


def subprocess_env(home: Path, db_url: str | None) -> dict[str, str]:
    """The environment of a real `softloop` process; `db_url=None` leaves the default database
    (the one under `home`), as on a fresh install."""
    env = {k: v for k, v in os.environ.items() if k != "SOFTLOOP_DATABASE_URL"}
    # One thread per process: the tests share two cores with whatever else is running.
    env.update(SOFTLOOP_HOME=str(home), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if db_url is not None:
        env["SOFTLOOP_DATABASE_URL"] = db_url
    return env


def softloop(*args: str, home: Path, db_url: str | None, timeout: float = 120):
    """`softloop ARGS` as a real process (the installed command: reference world included)."""
    return subprocess.run(
        [sys.executable, "-m", "softloop.bench.cli", *args],
        cwd=ROOT,
        env=subprocess_env(home, db_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
