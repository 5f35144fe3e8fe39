"""The `softloop` command line: a thin layer over the library.

Commands are registered by import path and loaded only when invoked, so `softloop --help`
answers at once instead of importing torch. User errors (`SoftloopError`, bad options) print one
line and exit non-zero; no traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping

import click

from softloop.agent.cli.options import CliContext, cli_context
from softloop.agent.world import WorldFactory
from softloop.prompts.errors import SoftloopError

# name -> "module:attribute" of a click command. Add a command here and in its own module.
COMMANDS: dict[str, str] = {
    "db": "softloop.agent.cli.db:db",
    "eval": "softloop.agent.cli.eval_cmd:eval_cmd",
    "export": "softloop.agent.cli.review:export",
    "export-peft": "softloop.agent.cli.peft_cmd:export_peft_cmd",
    "history": "softloop.agent.cli.review:history",
    "import-peft": "softloop.agent.cli.peft_cmd:import_peft_cmd",
    "label": "softloop.agent.cli.review:label",
    "prompts": "softloop.agent.cli.prompts_cmd:prompts",
    "refine": "softloop.agent.cli.refine:refine",
    "run": "softloop.agent.cli.run:run",
    "serve": "softloop.agent.cli.serve:serve",
    "show": "softloop.agent.cli.review:show",
    "stats": "softloop.agent.cli.review:stats",
    "task": "softloop.agent.cli.task_cmd:task",
    "train": "softloop.agent.cli.train:train",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({**COMMANDS, **cli_context().commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = {**COMMANDS, **cli_context().commands}.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="softloop")
def cli() -> None:
    """softloop: agents that correct themselves and improve over time, steered by soft prompts.

    \b
    Start with:   softloop demo
    Then review:  softloop history ; softloop show RUN_ID ; softloop prompts list
    """


def main(
    argv: list[str] | None = None,
    *,
    world: WorldFactory | None = None,
    commands: Mapping[str, str] | None = None,
) -> None:
    """Run the CLI, turning user errors into one clean line.

    world: builds the embedded default that commands use when no `--model` is given (see
    `softloop.agent.world`); without one, commands that need a model ask for `--model`.
    commands: extra commands, name -> "module:attribute".
    """
    obj = CliContext(world_factory=world, commands=dict(commands or {}))
    try:
        cli.main(args=argv, prog_name="softloop", standalone_mode=False, obj=obj)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.UsageError as err:
        # Usage mistakes keep click's usage line and hint; the error itself is one `error:` line.
        if err.ctx is not None:
            click.echo(err.ctx.get_usage(), err=True)
            if err.ctx.command.get_help_option(err.ctx) is not None:
                click.echo(f"Try '{err.ctx.command_path} --help' for help.", err=True)
        click.echo(f"error: {err.format_message()}", err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        click.echo(f"error: {err.format_message()}", err=True)
        sys.exit(err.exit_code)
    except SoftloopError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
