"""`softloop eval`: a prompt's accuracy on held-out examples, beside its instruction as text."""

from __future__ import annotations

from pathlib import Path

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


@click.command("eval")
@model_option
@click.option(
    "--prompt",
    "prompt_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The prompt directory to measure (made by `softloop train`).",
)
@data_option("Held-out examples")
@click.option(
    "--instruction",
    default=None,
    help="The text to compare with (default: the instruction the prompt started from).",
)
@click.option(
    "--chat",
    is_flag=True,
    help="Without --prompt: the instruction inside the model's chat template. With --prompt: "
    "check that the prompt uses it.",
)
@click.option("--max-new-tokens", type=click.IntRange(1, 512), default=None, help="Answer budget.")
@check_options
@json_option
def eval_cmd(
    model_path, prompt_dir, data_path, instruction, chat, max_new_tokens, as_json, **checks
):
    """Measure a prompt's greedy answers: accuracy with it, and with its instruction as text.

    An answer is right if the task's check says so, else if it equals the expected output
    (surrounding whitespace aside). JSON: {"accuracy", "without_prompt", "n", "instruction"}.

    \b
    Examples:
      softloop eval --model model.gguf --prompt prompts/add --data add-dev.jsonl
      softloop eval --model model.gguf --prompt prompts/add --data dev.jsonl --json \\
          --check mytasks:check_sum
      softloop eval --model model.gguf --chat --instruction "Add the numbers." --data dev.jsonl
    """
    if prompt_dir is None and instruction is None:
        raise click.ClickException("give --prompt DIR, or --instruction TEXT to measure it alone")
    check = check_spec(**checks)
    from softloop.prompts.data import read_jsonl
    from softloop.prompts.prompt_dir import open_prompt_dir

    try:  # the files are checked before torch and the model load, so a bad one fails at once
        examples = read_jsonl(data_path)
        if prompt_dir is not None:
            open_prompt_dir(prompt_dir)
    except SoftloopError as err:
        raise click.ClickException(str(err)) from err
    from softloop.agent.cli.quiet import quiet_loading
    from softloop.agent.setup import load_model
    from softloop.agent.task_builder import new_task_prompt
    from softloop.prompts import SoftPrompt
    from softloop.prompts.evaluation import evaluate
    from softloop.prompts.threads import fit_threads

    quiet_loading()
    try:
        lm = load_model(model_path, current_world())
        fit_threads(lm.model)
        if prompt_dir is not None:
            prompt = SoftPrompt.load(prompt_dir, lm=lm)
            if chat and not prompt.manifest.extra.get("chat"):
                raise SoftloopError(
                    f"prompt {prompt.name!r} does not use the chat template; drop --chat or "
                    "retrain it with --chat"
                )
        else:
            prompt = new_task_prompt(lm, "instruction", 1, None, chat)
        judge = None
        if check is not None:
            from softloop.critics.task_checks import verdict

            fn = check.load()

            def judge(input: str, answer: str) -> bool:
                return verdict(fn, input, answer)[0]

        report = evaluate(lm, prompt, examples, judge, instruction, max_new_tokens)
    except SoftloopError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        payload = report.as_dict()
        if prompt_dir is None:
            payload["accuracy"] = None
        echo_json(payload)
        return
    shown = report.instruction or "(none: the template alone)"
    plain = f"{report.without_prompt:.3f} with the instruction as text: {shown}"
    if prompt_dir is None:
        click.echo(f"accuracy {plain} (n={report.n})")
        return
    click.echo(f"accuracy {report.accuracy:.3f} with the prompt {prompt.name!r}, {plain}")
    click.echo(f"n={report.n}")
