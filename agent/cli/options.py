"""Options shared by many commands, bundled so every command spells them the same way."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from softloop.agent.world import World, WorldFactory


@dataclass
class CliContext:
    """What the program that runs the CLI hands every command (click's `obj`).

    world: the embedded default, built on first use (commands that only read the store never
    build it). commands: extra commands, name -> "module:attribute", as in `COMMANDS`.
    """

    world_factory: WorldFactory | None = None
    commands: Mapping[str, str] = field(default_factory=dict)
    _world: World | None = None

    def world(self) -> World | None:
        if self._world is None and self.world_factory is not None:
            self._world = self.world_factory()
        return self._world


def cli_context() -> CliContext:
    """The running CLI's context; an empty one outside a CLI run."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(CliContext) if ctx is not None else None
    return found if found is not None else CliContext()


def current_world() -> World | None:
    """The running program's embedded default world, if it has one."""
    return cli_context().world()


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
    help="Hugging Face causal LM: a local path, a hub id or a .gguf file (converted once, kept "
    "under $SOFTLOOP_HOME/models). Default: the embedded reference model.",
)


F = TypeVar("F", bound=Callable[..., Any])


def data_option(what: str) -> Callable[[F], F]:
    """`--data FILE` (required), the JSONL examples a command reads; `what` says which."""
    return click.option(
        "--data",
        "data_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help=f'{what}: one {{"input": ..., "output": ...}} JSON object per line.',
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
