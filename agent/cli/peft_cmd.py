"""`softloop export-peft` / `import-peft`: move prompts to and from Hugging Face PEFT adapters."""

from __future__ import annotations

from pathlib import Path

import click

from softloop.agent.cli.options import current_world, echo_json, json_option, model_option
from softloop.prompts.errors import SoftloopError

_dir = click.Path(file_okay=False, path_type=Path)


@click.command("export-peft")
@click.argument("prompt_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=_dir)
@click.option(
    "--base",
    "base_model",
    default=None,
    metavar="PATH_OR_ID",
    help="base_model_name_or_path to record (default: the prompt's base model id).",
)
@json_option
def export_peft_cmd(prompt_dir: Path, out_dir: Path, base_model: str | None, as_json: bool) -> None:
    """Write a saved prompt as a PEFT PROMPT_TUNING adapter.

    PEFT places virtual tokens before BOS, softloop after it: on a model whose tokenizer adds
    BOS the adapter behaves slightly differently under PEFT.

    \b
    Example:
      softloop export-peft prompts/path ./path-peft
    """
    from softloop.prompts import SoftPrompt, export_peft

    try:
        prompt = SoftPrompt.load(prompt_dir)
        path = export_peft(prompt, out_dir, base_model_name_or_path=base_model)
    except SoftloopError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        echo_json({"name": prompt.name, "path": str(path), "n_tokens": prompt.n_tokens})
    else:
        click.echo(f"exported {prompt.name!r} ({prompt.n_tokens} tokens) to {path}")


@click.command("import-peft")
@click.argument("peft_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=_dir)
@model_option
@click.option("--name", default=None, help="Prompt name (default: kept, or the OUT_DIR name).")
@json_option
def import_peft_cmd(
    peft_dir: Path, out_dir: Path, model_path: str | None, name: str | None, as_json: bool
) -> None:
    """Import a PEFT PROMPT_TUNING adapter as a softloop prompt for --model (default: embedded).

    The model is needed to check the hidden size and to stamp the prompt with its fingerprint.

    \b
    Example:
      softloop import-peft ./path-peft prompts/path --model ./tiny-llama
    """
    from softloop.agent.setup import load_model
    from softloop.prompts import import_peft

    try:
        lm = load_model(model_path, current_world())
        prompt = import_peft(peft_dir, lm, name=name)
        if name is None and prompt.manifest.extra.get("imported_from") == "peft":
            prompt.manifest.name = out_dir.name
        path = prompt.save(out_dir)
    except SoftloopError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        echo_json({"name": prompt.name, "path": str(path), "n_tokens": prompt.n_tokens})
    else:
        click.echo(f"imported {prompt.name!r} ({prompt.n_tokens} tokens) to {path}")
