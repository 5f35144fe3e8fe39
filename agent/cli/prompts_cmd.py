"""`softloop prompts list | show | promote | rollback | add`: the prompt registry by hand.

A thin layer over the store's `prompt_versions` rows and `agent.registry.PromptRegistry`. Only
`add` loads the model (it must check that the prompt was made for it); the others read and
write rows, and `promote` first checks that the version's file is there and unaltered.
"""

from __future__ import annotations

from pathlib import Path

import click

from softloop.agent.cli.options import db_option, echo_json, json_option, model_option
from softloop.agent.cli.review import _table, _when
from softloop.prompts.errors import SoftloopError


def _open_store(db_url: str | None):
    from softloop.agent.store import Store  # imported here so `softloop --help` stays instant

    return Store(db_url)


def version_dict(row) -> dict:
    """A `prompt_versions` row as plain data, for --json."""
    return {
        "name": row.name,
        "version": row.version,
        "kind": row.kind,
        "status": row.status,
        "parent": row.parent,
        "n_examples": row.n_examples,
        "metrics": row.metrics,
        "path": row.path,
        "sha256": row.sha256,
        "created_at": row.created_at,
        "promoted_at": row.promoted_at,
    }


def _metrics(metrics: dict) -> str:
    return ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items())
    )


def _rows_table(rows) -> str:
    cells = [
        [
            r.name,
            str(r.version),
            r.kind,
            r.status,
            "-" if r.parent is None else str(r.parent),
            _metrics(r.metrics) or "-",
            _when(r.created_at)[:16],
            _when(r.promoted_at)[:16] if r.promoted_at else "-",
        ]
        for r in rows
    ]
    headers = ["NAME", "VERSION", "KIND", "STATUS", "PARENT", "METRICS", "CREATED", "PROMOTED"]
    return _table(headers, cells, right={1, 4})


@click.group()
def prompts() -> None:
    """Manage prompt versions: list, inspect, promote, roll back, register.

    \b
    Examples:
      softloop prompts list
      softloop prompts show path
      softloop prompts promote path 3
      softloop prompts rollback path
      softloop prompts add ./trained/path --active
    """


@prompts.command("list")
@json_option
@db_option
def list_cmd(as_json, db_url):
    """List every version of every prompt with its status, parent and metrics.

    \b
    Example:
      softloop prompts list --json
    """
    rows = _open_store(db_url).list_prompt_versions()
    if as_json:
        echo_json([version_dict(r) for r in rows])
        return
    if not rows:
        click.echo(
            "No prompt versions yet. `softloop run` registers the shipped defaults; "
            "`softloop prompts add DIR` registers your own."
        )
        return
    click.echo(_rows_table(rows))


@prompts.command()
@click.argument("name")
@json_option
@db_option
def show(name, as_json, db_url):
    """Show one prompt's versions (with files and data sizes) and its recent refine jobs.

    \b
    Example:
      softloop prompts show critique
    """
    store = _open_store(db_url)
    rows = store.list_prompt_versions(name)
    if not rows:
        raise SoftloopError(
            f"no prompt called {name!r} is registered; list them with `softloop prompts list`"
        )
    jobs = store.list_jobs(name, limit=10)
    if as_json:
        echo_json(
            {
                "name": name,
                "versions": [version_dict(r) for r in rows],
                "jobs": [
                    {
                        "id": j.id,
                        "owner": j.owner,
                        "status": j.status,
                        "started_at": j.started_at,
                        "finished_at": j.finished_at,
                        "error": j.error,
                    }
                    for j in jobs
                ],
            }
        )
        return
    click.echo(_rows_table(rows))
    click.echo("")
    for r in rows:
        size = f", {r.n_examples} examples" if r.n_examples is not None else ""
        click.echo(f"v{r.version} {r.status}{size}: {r.path}")
    if jobs:
        click.echo("")
        click.echo("recent refine jobs:")
        for j in jobs:
            error = f": {j.error}" if j.error else ""
            click.echo(f"  #{j.id} {j.status}  {_when(j.started_at)} UTC  by {j.owner}{error}")


@prompts.command()
@click.argument("name")
@click.argument("version", type=int)
@db_option
def promote(name, version, db_url):
    """Make VERSION the active version of NAME (the current one is retired).

    Agents pick it up at their next run. The version's file must be present and unaltered.

    \b
    Example:
      softloop prompts promote path 3
    """
    from softloop.agent.registry import verified_path

    store = _open_store(db_url)
    verified_path(store.get_prompt_version(name, version), "not promoted")
    before = store.active_version(name)
    store.promote(name, version)
    was = f" (was v{before.version})" if before is not None and before.version != version else ""
    click.echo(f"{name}: v{version} is active{was}")


@prompts.command()
@click.argument("name")
@db_option
def rollback(name, db_url):
    """Reject NAME's active version and re-activate the one promoted before it.

    \b
    Example:
      softloop prompts rollback path
    """
    store = _open_store(db_url)
    before = store.active_version(name)
    row = store.rollback(name)
    was = f" (v{before.version} rejected)" if before is not None else ""
    click.echo(f"{name}: v{row.version} is active again{was}")


@prompts.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--active", is_flag=True, help="Make it the active version at once.")
@click.option("--name", default=None, help="Register under this name (default: the manifest's).")
@click.option(
    "--kind",
    type=click.Choice(["task", "critique", "revise"]),
    default=None,
    help="What the prompt does (default: the manifest's). A task prompt's name is its task.",
)
@model_option
@db_option
def add(directory, active, name, kind, model_path, db_url):
    """Register a prompt directory (made by `softloop train`) as the next version of its name.

    The prompt must have been trained for the model given by --model (default: the embedded
    reference model); it is copied into the registry, so DIRECTORY may be deleted afterwards.

    \b
    Examples:
      softloop prompts add ./trained/path --active
      softloop prompts add ./trained/judge --name critique --kind critique --model ./my-model
    """
    from softloop.agent.cli.run import open_for_cli
    from softloop.prompts import SoftPrompt
    from softloop.prompts.manifest import PromptKind
    from softloop.prompts.names import check_name

    if name is not None:
        check_name(name, "prompt name")  # before loading anything
    setup = open_for_cli(model_path, db_url)
    try:
        prompt = SoftPrompt.load(directory, lm=setup.lm)
        update: dict[str, object] = {"name": name} if name is not None else {}
        if kind is not None:
            update["kind"] = PromptKind(kind)
        if update:
            prompt.manifest = prompt.manifest.model_copy(update=update)
        # No parent: a prompt trained elsewhere was not warm-started from a registered version.
        status = "active" if active else "candidate"
        row = setup.registry.register(prompt, status=status, metrics=prompt.manifest.metrics)
    finally:
        setup.close()
    click.echo(f"registered {row.ref} ({row.kind}, {row.status}) from {directory}")
