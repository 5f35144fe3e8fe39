"""The `softloop` command line: a thin layer over the library.

Commands are registered by import path and loaded only when invoked, so `softloop --help`
answers at once instead of importing torch. User errors (`SoftloopError`, bad options) print one
line and exit non-zero; no traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from prompts.errors import SoftloopError

# name -> "module:attribute" of a click command. Add a command here and in its own module.
COMMANDS: dict[str, str] = {
    "db": "agent.cli.db:db",
    "demo": "agent.cli.demo:demo",
    "export": "agent.cli.review:export",
    "export-peft": "agent.cli.peft_cmd:export_peft_cmd",
    "history": "agent.cli.review:history",
    "import-peft": "agent.cli.peft_cmd:import_peft_cmd",
    "label": "agent.cli.review:label",
    "prompts": "agent.cli.prompts_cmd:prompts",
    "refine": "agent.cli.refine:refine",
    "run": "agent.cli.run:run",
    "show": "agent.cli.review:show",
    "stats": "agent.cli.review:stats",
    "train": "agent.cli.train:train",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning user errors into one clean line."""
    try:
        cli.main(args=argv, prog_name="softloop", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except SoftloopError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
