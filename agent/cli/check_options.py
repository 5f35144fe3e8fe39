"""`--check`, `--check-regex`, `--check-schema`: a task's own exact check on the command line.

One spelling for every command that judges answers (`eval`, `task add`). A Python check is
imported from the current directory or `PYTHONPATH`; the folder it came from is kept with a
task, so later runs from elsewhere find it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import click

from softloop.agent.cli.options import compose
from softloop.agent.tasks import TaskCheckSpec

check_options = compose(
    click.option(
        "--check",
        "check_fn",
        default=None,
        metavar="MODULE:FUNCTION",
        help="The task's exact check: a function (input, answer) -> bool, or (bool, feedback).",
    ),
    click.option(
        "--check-regex",
        default=None,
        metavar="PATTERN",
        help="The task's check: the whole answer must match this regular expression.",
    ),
    click.option(
        "--check-schema",
        default=None,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="The task's check: the answer must be JSON valid under this JSON Schema file.",
    ),
)


def check_spec(
    check_fn: str | None, check_regex: str | None, check_schema: Path | None
) -> TaskCheckSpec | None:
    """The check the options name (at most one), loaded once so that a bad one fails now."""
    given = [x for x in (check_fn, check_regex, check_schema) if x is not None]
    if len(given) > 1:
        raise click.ClickException("give one of --check, --check-regex and --check-schema")
    if check_fn is not None:
        spec = TaskCheckSpec(kind="python", spec=check_fn, path=_module_folder(check_fn))
    elif check_regex is not None:
        spec = TaskCheckSpec(kind="regex", spec=check_regex)
    elif check_schema is not None:
        try:
            text = check_schema.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise click.ClickException(f"cannot read {check_schema} ({err})") from None
        spec = TaskCheckSpec(kind="schema", spec=text)
    else:
        return None
    spec.load()
    return spec


def _module_folder(check_fn: str) -> str | None:
    """The current directory, if the check's module is found there (and put it on the path)."""
    module = check_fn.partition(":")[0]
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        found = importlib.util.find_spec(module.split(".")[0]) if module else None
    except (ImportError, ValueError):
        return None
    origin = getattr(found, "origin", None) or ""
    locations = list(getattr(found, "submodule_search_locations", None) or [])
    paths = [origin, *locations]
    return here if any(p and Path(p).resolve().is_relative_to(Path(here)) for p in paths) else None
