"""Options shared by many commands, bundled so every command spells them the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table."
)
db_option = click.option(
    "--db",
    "db_url",
    envvar="SOFTLOOP_DATABASE_URL",
    default=None,
    metavar="URL",
    help="Database URL (default: $SOFTLOOP_DATABASE_URL, else an SQLite file in $SOFTLOOP_HOME).",
)
model_option = click.option(
    "--model",
    "model_path",
    default=None,
    metavar="PATH_OR_ID",
    help="Hugging Face causal LM (local path or hub id). Default: the embedded reference model.",
)


def echo_json(payload: Any) -> None:
    """Print one JSON document; dates and paths become strings."""
    click.echo(json.dumps(payload, indent=2, default=str))


def compose(*decorators: Callable) -> Callable:
    """Apply several click decorators as one."""

    def apply(fn: Callable) -> Callable:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply
