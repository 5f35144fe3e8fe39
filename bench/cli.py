"""The `softloop` command: the library's CLI with the reference world as its embedded default.

This is the composition root. The library (`softloop.agent.cli`) knows no particular model or
task; here the reference world is handed to it as a value, and the `demo` command, which runs
on that world, is added.
"""

from __future__ import annotations

from softloop.agent import cli

COMMANDS = {"demo": "softloop.bench.demo_cli:demo"}


def _world():
    from softloop.bench.world import reference_world

    return reference_world()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(argv, world=_world, commands=COMMANDS)


if __name__ == "__main__":
    main()
