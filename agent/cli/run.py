"""`softloop run`: one request through the generate → critique → revise loop.

A thin layer over `agent.setup`: open the world, check the task, invoke the graph once, print the
trajectory (or the final state as JSON). A store outage does not fail the command: the answer
stands and the warning says where the run was spooled. Nor does a database that cannot be
reached at all: the loop answers with the prompt versions last seen active (or the world's
shipped prompts), says so in one `warning:` line, and spools the run without waiting out the
store's retries; `softloop db replay` (or the next run that reaches the database) stores it.
"""

from __future__ import annotations

import logging

import click

from softloop.agent.cli.options import (
    current_world,
    db_option,
    echo_json,
    json_option,
    model_option,
)
from softloop.agent.cli.text import printable


@click.command()
@click.option("--task", required=True, help="Task name: selects the task prompt (and the oracle).")
@click.option(
    "--max-rounds",
    type=click.IntRange(1, 50),
    default=None,
    help="Attempts allowed, the first included (default: 3).",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    metavar="P",
    help="Also judge by the task prompt's confidence, before the critique prompt: an answer "
    "fails when the prompt gave any of its tokens less than P. 0: never (default: only when "
    "the critique prompt is not trusted, at 0.6).",
)
@click.option(
    "--chat",
    is_flag=True,
    help="Check that the task's prompt uses the model's chat template (prompts keep their "
    "template, so runs need no flag; this refuses a prompt trained without it).",
)
@model_option
@db_option
@json_option
@click.argument("input_text", metavar="INPUT")
def run(task, max_rounds, confidence, chat, model_path, db_url, as_json, input_text):
    """Send one request through the loop and print its trajectory and run id.

    \b
    Examples:
      softloop run --task path "a d;ab bc cd"
      softloop run --task sum --max-rounds 5 --json "11;72941"
      softloop run --task triangle --confidence 0.8 "ab bc ca cd"
      softloop run --model ./my-model --task summarise "some text"
    """
    from softloop.agent.graph import LoopConfig, LoopState
    from softloop.agent.graph.recording import Unreachable

    setup = open_for_cli(model_path, db_url, task)
    # The loop logs a failed store write; this command prints it once, as a warning, below.
    muted = logging.NullHandler()
    logging.getLogger("softloop.loop").addHandler(muted)
    try:
        setup.check_task(task)
        if chat:
            check_chat(setup, task)
        state = {"task": task, "input": input_text, "max_rounds": max_rounds}
        config = LoopConfig()
        if confidence is not None:
            config = config.with_confidence(confidence)
        # Found unreachable already: spool at once rather than retry for half a minute.
        sink = {"store": Unreachable(setup.offline)} if setup.offline else {}
        final = LoopState.model_validate(setup.graph(config=config, **sink).invoke(state))
        offline = setup.offline
    finally:
        logging.getLogger("softloop.loop").removeHandler(muted)
        setup.close()
    if as_json:
        echo_json(final.model_dump(mode="json"))
    else:
        click.echo(render_state(final))
    if offline and final.store_error:
        click.echo(f"warning: {offline_note(offline, final)}", err=True)
    elif final.store_error:
        click.echo(f"warning: {final.store_error}", err=True)


def check_chat(setup, task: str) -> None:
    """Refuse to run `task` as a chat task unless its active prompt uses the chat template."""
    from softloop.prompts import SoftloopError

    active = setup.registry.active_prompt(task)
    if active is not None and not active[1].manifest.extra.get("chat"):
        raise SoftloopError(
            f"the active prompt of task {task!r} does not use the chat template; drop --chat "
            "or train it with --chat"
        )


def offline_note(reason: str, final) -> str:
    """One line: the database was down, which prompts answered, where the run waits."""
    from softloop.agent.registry import SHIPPED
    from softloop.agent.store.spool import spool_path

    versions = final.selection.versions() if final.selection else {}
    shipped = any(v == SHIPPED for v in versions.values())
    used = ", ".join(f"{n}@{v}" for n, v in sorted(versions.items()))
    source = "the shipped prompts" if shipped else "the prompt versions last seen active"
    return (
        f"{reason.rstrip('.')}; answered with {source} ({used}) and saved the run to "
        f"{spool_path()} (`softloop db replay` stores it)"
    )


def open_for_cli(model_path: str | None, db_url: str | None, task: str | None = None):
    """`open_setup` for a command, without loading progress bars or transformers' chatter."""
    from transformers.utils import logging as hf_logging

    from softloop.agent.setup import open_setup

    # A command's stderr is for softloop's own warnings and errors, one line each (a too-long
    # input, say, is refused by softloop in one sentence, not warned about by the tokenizer).
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    return open_setup(model_path, db_url, world=current_world(), task=task)


def render_state(state) -> str:
    """The trajectory of a finished run, as `softloop show` prints a stored one."""
    sel = state.selection
    prompts = ", ".join(f"{n}@{v}" for n, v in sorted(sel.versions().items())) if sel else "-"
    out = [f"task {state.task}  ·  prompts {prompts}", f"input: {printable(state.input)}"]
    for a in state.attempts:
        bits = [f"attempt {a.round}", f"[{a.prompt}]", f"{a.model_seconds:.2f} s"]
        if a.n_candidates > 1:
            bits.append(f"best of {a.n_candidates} candidates")
        if a.oracle_correct is not None:
            bits.append("oracle: " + ("right" if a.oracle_correct else "wrong"))
        c = a.critique
        feedback = f": {printable(c.feedback)}" if c.feedback else ""
        verdict = "PASS" if c.passed else "FAIL"
        out += [
            "  ".join(bits),
            f"  → {printable(a.output)}",
            f"    {verdict} {c.score:.2f}  {printable(c.critic)}{feedback}",
        ]
    rounds = len(state.attempts)
    took = f", {state.latency_s:.2f} s" if state.latency_s is not None else ""
    reason = getattr(state, "final_reason", None)  # stored runs do not keep it
    final = printable(state.final_output) if state.final_output is not None else "-"
    out.append(f"final: {final}" + (f"  ({reason})" if reason else ""))
    out.append(f"status: {state.status} after {rounds} round{'s' * (rounds != 1)}{took}")
    if state.run_id:
        out.append(f"run {state.run_id}  (softloop show {state.run_id[:8]})")
    else:
        out.append("run not stored")
    return "\n".join(out)
