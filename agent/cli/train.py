"""`softloop train`: fit a soft prompt to a JSONL file of examples; a thin layer over prompts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import click

from softloop.agent.cli.options import current_world, echo_json, json_option, model_option
from softloop.prompts.errors import SoftloopError


@click.command()
@model_option
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Training examples: one {"input": ..., "output": ...} JSON object per line.',
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to save the prompt into (replaced whole if it exists).",
)
@click.option("--name", default=None, help="Prompt name (default: the --out directory's name).")
@click.option("--n-tokens", default=8, show_default=True, help="Number of virtual tokens.")
@click.option(
    "--init",
    "init",
    type=click.Choice(["text", "vocab", "random"]),
    default=None,
    help="Initialisation (default: text if --init-text is given, else vocab).",
)
@click.option("--init-text", default=None, help="Instruction whose embeddings start the prompt.")
@click.option(
    "--template",
    default="{input}",
    show_default=True,
    help="Format applied to every input, in training and generation; must contain {input}.",
)
@click.option("--steps", default=300, show_default=True, help="Optimiser steps.")
@click.option("--lr", default=1e-2, show_default=True, help="Peak learning rate.")
@click.option("--batch-size", default=16, show_default=True, help="Examples per step.")
@click.option(
    "--dev",
    "dev_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Held-out JSONL: evaluated during training; the best prompt is kept.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for init and batch order.")
@json_option
def train(
    model_path: str | None,
    data_path: Path,
    out_dir: Path,
    name: str | None,
    n_tokens: int,
    init: str | None,
    init_text: str | None,
    template: str,
    steps: int,
    lr: float,
    batch_size: int,
    dev_path: Path | None,
    seed: int,
    as_json: bool,
) -> None:
    """Train a soft prompt on a frozen causal LM from a JSONL file.

    \b
    Example:
      softloop train --model ./tiny-llama --data add.jsonl --out prompts/add \\
          --init-text "add:" --template "{input}=" --dev add-dev.jsonl
    """
    if init == "text" and not init_text:
        raise click.UsageError("--init text needs --init-text 'INSTRUCTION'; or use --init vocab")
    from softloop.prompts.names import InvalidNameError, check_name

    try:
        check_name(name or out_dir.name, "prompt name")
    except InvalidNameError as err:
        hint = "" if name else " (taken from the --out directory; pass --name)"
        raise click.ClickException(f"{err}{hint}") from None
    from softloop.agent.setup import load_model
    from softloop.prompts import SoftPrompt, TrainConfig, read_jsonl, train_prompt
    from softloop.prompts.soft_prompt import InitStrategy
    from softloop.prompts.threads import fit_threads

    # stderr is for the training bar and softloop's warnings and errors: not for the model
    # loader's bars or transformers' own warnings.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    started = time.perf_counter()
    config = TrainConfig(steps=steps, lr=lr, batch_size=batch_size, seed=seed, progress=not as_json)
    try:
        train_set = read_jsonl(data_path)
        dev_set = read_jsonl(dev_path) if dev_path is not None else None
        lm = load_model(model_path, current_world())
        fit_threads(lm.model)
        init = init or ("text" if init_text else "vocab")
        prompt = SoftPrompt.from_init(
            lm,
            n_tokens,
            cast(InitStrategy, init),  # click's Choice allows only these
            text=init_text,
            name=name or out_dir.name,
            template=template,
            seed=seed,
        )
        report = train_prompt(lm, prompt, train_set, dev_set, config)
        path = prompt.save(out_dir)
    except SoftloopError as err:
        raise click.ClickException(str(err)) from err
    summary = {
        "name": prompt.name,
        "path": str(path),
        "steps": report.steps,
        "train_loss": report.train_losses[-1],
        "best_dev_loss": report.best_dev,
        "best_step": report.best_step,
        "seconds": time.perf_counter() - started,
        "train_examples": len(train_set),
        "dev_examples": len(dev_set or []),
        "n_tokens": n_tokens,
        "init": init,
        "base_model_id": lm.model_id,
        "base_fingerprint": lm.fingerprint,
    }
    if as_json:
        echo_json(summary)
        return
    best = summary["best_dev_loss"]
    click.echo(
        f"trained {summary['name']!r}: {summary['steps']} steps, final train loss "
        f"{summary['train_loss']:.4f}"
        + (f", best dev loss {best:.4f} at step {summary['best_step']}" if best is not None else "")
        + f", {summary['seconds']:.1f}s"
    )
    click.echo(f"saved to {summary['path']}")
