"""`softloop task add | list | show`: your own task, runnable with `softloop run --task NAME`.

`add` is `agent.task_builder.add_task` behind options: it trains the task's prompt and a critique
prompt on the model's own answers, registers both as active and writes the task's check and
label down under `$SOFTLOOP_HOME/tasks`.
"""

from __future__ import annotations

from pathlib import Path

import click

from softloop.agent.cli.check_options import check_options, check_spec
from softloop.agent.cli.options import data_option, db_option, echo_json, json_option, model_option


@click.group()
def task() -> None:
    """Your own tasks: add one in one command, then run it through the loop.

    \b
    Examples:
      softloop task add add2 --model model.gguf --chat --data add2.jsonl --dev add2-dev.jsonl \\
          --instruction "Add the two numbers." --check mytasks:check_sum
      softloop run --model model.gguf --task add2 "3+4"
      softloop task list
    """


@task.command()
@click.argument("name")
@model_option
@data_option("Training examples")
@click.option(
    "--dev",
    "dev_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Held-out examples: the prompt is measured and the critic's threshold fitted on them.",
)
@click.option(
    "--prompt",
    "prompt_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A task prompt already trained (`softloop train`): registered as it is, not retrained.",
)
@click.option("--instruction", default=None, help="What the task is, in words: starts the prompt.")
@click.option(
    "--label",
    default=None,
    help="How the critique prompt is told the task (default: the instruction, else NAME).",
)
@click.option("--chat", is_flag=True, help="Use the model's chat template for both prompts.")
@click.option("--n-tokens", type=click.IntRange(1, 512), default=None, help="Virtual tokens.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Task prompt steps.")
@click.option(
    "--critique-steps", type=click.IntRange(1), default=None, help="Critique prompt steps."
)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None, help="Learning rate.")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Examples per step.")
@click.option("--seed", default=0, show_default=True, help="Seed for init, order and sampling.")
@check_options
@db_option
@json_option
def add(
    name,
    model_path,
    data_path,
    dev_path,
    prompt_dir,
    instruction,
    label,
    chat,
    n_tokens,
    steps,
    critique_steps,
    lr,
    batch_size,
    seed,
    db_url,
    as_json,
    **checks,
):
    """Train NAME's prompt and critique prompt, register both, and make NAME runnable.

    Sizes and learning rate default to what suits the model. Without a check an answer is
    right when it equals the expected output; the check also judges every answer in the loop
    (before the critic) and is stored as the truth the refiner learns from.

    \b
    Examples:
      softloop task add add2 --model SmolLM2-135M-Instruct.Q4_1.gguf --chat \\
          --data add2.jsonl --dev add2-dev.jsonl --instruction "Add the two numbers." \\
          --check mytasks:check_sum
      softloop task add add2 --model model.gguf --chat --prompt prompts/add2 --data add2.jsonl
    """
    from softloop.agent.tasks import check_task_name

    check_task_name(name)  # before loading anything
    check = check_spec(**checks)
    from softloop.agent.cli.run import open_for_cli
    from softloop.agent.task_builder import TaskOptions, add_task
    from softloop.prompts import read_jsonl

    train_set = read_jsonl(data_path)
    dev_set = read_jsonl(dev_path) if dev_path is not None else []
    options = TaskOptions(
        instruction=instruction,
        label=label,
        chat=chat,
        check=check,
        n_tokens=n_tokens,
        steps=steps,
        critique_steps=critique_steps,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        progress=not as_json,
    )
    setup = open_for_cli(model_path, db_url)
    try:
        if prompt_dir is not None:
            from softloop.prompts import SoftPrompt

            options.prompt = SoftPrompt.load(prompt_dir, lm=setup.lm)
        result = add_task(
            setup, name, train_set, dev_set, options, say=lambda line: click.echo(line, err=True)
        )
    finally:
        setup.close()
    if as_json:
        echo_json(result.summary())
        return
    click.echo(
        f"task {name!r} added: {result.summary()['task_prompt']} and "
        f"{result.summary()['critique_prompt']} are active; "
        f"try: softloop run --task {name} INPUT"
    )


@task.command("list")
@json_option
def list_cmd(as_json):
    """List your tasks: check, label, critique prompt.

    \b
    Example:
      softloop task list --json
    """
    registry = _tasks()
    specs = [registry.load(n) for n in registry.names()]
    if as_json:
        echo_json([s.model_dump(mode="json") for s in specs])
        return
    if not specs:
        click.echo("No tasks yet. Add one with `softloop task add NAME --data FILE`.")
        return
    for s in specs:
        check = f"{s.check.kind} check" if s.check else "no check"
        chat = ", chat" if s.chat else ""
        click.echo(f"{s.name}: {check}{chat}, critic {s.critique or '-'}, label {s.label!r}")


@task.command()
@click.argument("name")
@json_option
def show(name, as_json):
    """Show one task as stored: its check, label, instruction and critique prompt.

    \b
    Example:
      softloop task show add2
    """
    registry = _tasks()
    spec = registry.load(name)
    payload = spec.model_dump(mode="json")
    payload["dev_examples"] = len(registry.dev(name))
    payload["critique_dev_examples"] = len(registry.critique_dev(name))
    if as_json:
        echo_json(payload)
        return
    for key, value in payload.items():
        click.echo(f"{key}: {value}")


def _tasks():
    from softloop.agent.settings import softloop_home
    from softloop.agent.tasks import TaskRegistry

    return TaskRegistry(softloop_home() / "tasks")
