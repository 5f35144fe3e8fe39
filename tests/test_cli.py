"""The CLI as a user meets it: every command answers --help with an example."""

import pytest
from click.testing import CliRunner

from softloop.agent.cli import COMMANDS, cli
from softloop.agent.cli.options import CliContext
from softloop.bench import cli as program

ALL = {**COMMANDS, **program.COMMANDS}


def _context() -> CliContext:
    return CliContext(commands=program.COMMANDS)


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"], obj=_context())
    assert result.exit_code == 0
    for name in ALL:
        assert name in result.output


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_command_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"], obj=_context())
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
