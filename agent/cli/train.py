"""`softloop train`: fit a soft prompt to a JSONL file of examples; a thin layer over prompts.

Sizes, learning rate and template default to what suits the model (`prompts.defaults`); with
`--dev` the command also reports the prompt's dev accuracy beside its instruction as text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import click

from softloop.agent.cli.check_options import check_options, check_spec
from softloop.agent.cli.options import (
    current_world,
    data_option,
    echo_json,
    json_option,
    model_option,
)
from softloop.prompts.errors import SoftloopError


@click.command()
@model_option
@data_option("Training examples")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to save the prompt into (replaced whole if it exists).",
)
@click.option("--name", default=None, help="Prompt name (default: the --out directory's name).")
@click.option(
    "--n-tokens",
    type=click.IntRange(1, 512),
    default=None,
    help="Number of virtual tokens (default: 8 on a tiny model, 16 on a larger one).",
)
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
    default=None,
    help="Format applied to every input, in training and generation; must contain {input} and "
    "may place the virtual tokens with {prompt} (default: '{prompt}\\n{input}\\n', or "
    "'{input}=' where the tokenizer has no line break; with --chat, the user turn).",
)
@click.option(
    "--chat",
    is_flag=True,
    help="Use the model's chat template: the virtual tokens and the input in one user turn.",
)
@click.option(
    "--system",
    default=None,
    help="With --chat, a system turn (default: none, even where the template adds one).",
)
@click.option(
    "--steps",
    type=click.IntRange(1),
    default=None,
    help="Optimiser steps (default: 300 on a tiny model, 100 on a larger one).",
)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Peak learning rate (default: 0.03).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=None,
    help="Examples per step (default: 16 on a tiny model, 8 on a larger one).",
)
@click.option(
    "--dev",
    "dev_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Held-out JSONL: evaluated during training (the best prompt is kept), then its "
    "accuracy is reported beside the instruction's as text.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for init and batch order.")
@check_options
@json_option
def train(
    model_path: str | None,
    data_path: Path,
    out_dir: Path,
    name: str | None,
    n_tokens: int | None,
    init: str | None,
    init_text: str | None,
    template: str | None,
    chat: bool,
    system: str | None,
    steps: int | None,
    lr: float | None,
    batch_size: int | None,
    dev_path: Path | None,
    seed: int,
    as_json: bool,
    **checks: object,
) -> None:
    """Train a soft prompt on a frozen causal LM from a JSONL file.

    \b
    Examples:
      softloop train --model ./tiny-llama --data add.jsonl --out prompts/add \\
          --init-text "add:" --template "{input}=" --dev add-dev.jsonl
      softloop train --model SmolLM2-135M-Instruct.Q4_1.gguf --chat --data add.jsonl \\
          --out prompts/add --init-text "Add the two numbers." --dev add-dev.jsonl
    """
    if init == "text" and not init_text:
        raise click.UsageError("--init text needs --init-text 'INSTRUCTION'; or use --init vocab")
    if system is not None and not chat:
        raise click.ClickException("--system is a chat template's system turn; pass --chat with it")
    check = check_spec(**checks)  # type: ignore[arg-type]
    from softloop.prompts.names import InvalidNameError, check_name

    try:
        check_name(name or out_dir.name, "prompt name")
    except InvalidNameError as err:
        hint = "" if name else " (taken from the --out directory; pass --name)"
        raise click.ClickException(f"{err}{hint}") from None
    from softloop.prompts.data import read_jsonl

    try:  # the data files are read before torch and the model load, so a bad one fails at once
        train_set = read_jsonl(data_path)
        dev_set = read_jsonl(dev_path) if dev_path is not None else None
    except SoftloopError as err:
        raise click.ClickException(str(err)) from err
    # stderr is for the training bar and softloop's warnings and errors: not for the model
    # loader's bars or transformers' own warnings.
    from transformers.utils import logging as hf_logging

    from softloop.agent.setup import load_model
    from softloop.prompts import SoftPrompt, TrainConfig, train_prompt
    from softloop.prompts.chat import default_template
    from softloop.prompts.defaults import prompt_defaults
    from softloop.prompts.evaluation import evaluate
    from softloop.prompts.soft_prompt import InitStrategy
    from softloop.prompts.threads import fit_threads

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    started = time.perf_counter()
    try:
        lm = load_model(model_path, current_world())
        fit_threads(lm.model)
        base = prompt_defaults(lm)
        n_tokens = n_tokens or base.n_tokens
        config = TrainConfig(
            steps=steps or base.steps,
            lr=lr or base.lr,
            batch_size=batch_size or base.batch_size,
            seed=seed,
            progress=not as_json,
        )
        init = init or ("text" if init_text else "vocab")
        if template is None and not chat:
            template = default_template(lm.tokenizer)
        prompt = SoftPrompt.from_init(
            lm,
            n_tokens,
            cast(InitStrategy, init),  # click's Choice allows only these
            text=init_text,
            name=name or out_dir.name,
            template=template or "{input}",
            seed=seed,
            chat=chat,
            system=system,
        )
        report = train_prompt(lm, prompt, train_set, dev_set, config)
        dev_eval = None
        if dev_set:
            judge = _judge(check.load()) if check is not None else None
            dev_eval = evaluate(lm, prompt, dev_set, judge)
            prompt.manifest.metrics.update(
                {"dev_accuracy": dev_eval.accuracy, "dev_without_prompt": dev_eval.without_prompt}
            )
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
        "lr": config.lr,
        "batch_size": config.batch_size,
        "template": prompt.template,
        "dev_accuracy": dev_eval.accuracy if dev_eval is not None else None,
        "dev_without_prompt": dev_eval.without_prompt if dev_eval is not None else None,
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
    if dev_eval is not None:
        shown = dev_eval.instruction or "(none: the template alone)"
        click.echo(
            f"dev accuracy {dev_eval.accuracy:.3f} with the prompt, "
            f"{dev_eval.without_prompt:.3f} with the instruction as text: {shown} "
            f"(n={dev_eval.n})"
        )
    click.echo(f"saved to {summary['path']}")


def _judge(check):
    """A check's verdict as a bool, a check that raises judging the answer wrong."""
    from softloop.critics.task_checks import verdict

    return lambda input, answer: verdict(check, input, answer)[0]
