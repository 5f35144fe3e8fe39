"""`softloop refine --once | --every DURATION`: the scheduled refinement job.

A thin layer over `agent.refine.Refiner`. `--once` is for cron, a Kubernetes CronJob or Airflow:
one line per prompt, exit 0, non-zero if any refinement failed. `--every` is a long-running
worker. In both, SIGTERM or SIGINT asks the refiner to stop after the current job (a job still
training is abandoned without promotion, and its lease released); a second signal quits at once,
and the job's lease then expires after `--lease-ttl` (renewed on a heartbeat while a job runs,
so a long training run keeps it; a refiner killed outright is taken over within that time).
Training checks for the signal before every step, so a job stops within one step of it.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from softloop.agent.cli.options import db_option, echo_json, json_option, model_option
from softloop.prompts.errors import SoftloopError
from softloop.prompts.names import check_name

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str = "--every") -> float:
    """'30s', '10m', '1h', '1d' or plain seconds → seconds (> 0)."""
    match = _DURATION.match(text.lower())
    seconds = float(match[1]) * _SECONDS[match[2]] if match else 0.0
    if seconds <= 0:
        raise click.BadParameter(
            f"{text!r} is not a duration; use e.g. 30s, 10m, 1h", param_hint=f"'{option}'"
        )
    return seconds


class _BriefFormatter(logging.Formatter):
    """`error: message (ValueError: why)`: one line, no traceback (use --verbose for those)."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            line += f" ({type(err).__name__}: {err})"
        return line


@contextmanager
def _logging(verbose: bool):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        if verbose
        else _BriefFormatter()
    )
    logger = logging.getLogger("softloop")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@contextmanager
def _stop_on_signals(refiner):
    """SIGTERM/SIGINT: stop after the current job; a second one: quit now."""
    stopping = threading.Event()

    def handle(signum, frame):
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        # Not refiner.stop() here: the handler runs on the main thread, which may be holding the
        # refiner's event lock inside wait(); setting it from another thread cannot deadlock.
        threading.Thread(target=refiner.stop, name="softloop-stop").start()

    old = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@click.command()
@click.option("--once", is_flag=True, help="One refinement of each prompt, then exit.")
@click.option(
    "--every",
    default=None,
    metavar="DURATION",
    help="Refine, wait DURATION (30s, 10m, 1h), repeat until SIGTERM/SIGINT.",
)
@click.option(
    "--names",
    default=None,
    metavar="A,B",
    help="Only these prompt names (default: every active task and critique prompt).",
)
@click.option(
    "--min-feedback",
    type=click.IntRange(1),
    default=None,
    help="New feedback rows needed before a retrain (default: 20).",
)
@click.option(
    "--lease-ttl",
    default=None,
    metavar="DURATION",
    help="How long a refiner's lease on a prompt lasts without renewal (renewed while it "
    "works); a crashed refiner's prompt is taken over after this. Default: 15m.",
)
@click.option(
    "--steps", type=click.IntRange(1), default=None, help="Training steps per candidate (150)."
)
@click.option(
    "--batch-size", type=click.IntRange(1), default=None, help="Examples per step (32)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress and full tracebacks.")
@model_option
@db_option
@json_option
def refine(
    once,
    every,
    names,
    min_feedback,
    lease_ttl,
    steps,
    batch_size,
    verbose,
    model_path,
    db_url,
    as_json,
):
    """Retrain prompts on stored feedback; promote a candidate only if it beats the active one.

    Prints one line per prompt: promoted, rejected, skipped (and why) or failed. Several
    refiners may run against one database: a lease keeps each prompt to one at a time.

    \b
    Examples:
      softloop refine --once                      # from cron: */10 * * * *
      softloop refine --every 10m                 # a worker; stops cleanly on SIGTERM
      softloop refine --once --names path,critique --min-feedback 50 --json
      softloop refine --every 10m --lease-ttl 2m  # a crashed worker's prompts free in 2m
      softloop refine --once --model model.gguf --steps 40 --batch-size 8  # a larger model
    """
    if once == (every is not None):
        raise click.UsageError("give exactly one of --once or --every DURATION")
    every_s = parse_duration(every) if every is not None else None
    ttl_s = parse_duration(lease_ttl, "--lease-ttl") if lease_ttl is not None else None
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else None
    for name in wanted or ():
        check_name(name, "prompt name")

    from softloop.agent.cli.run import open_for_cli
    from softloop.agent.refine import RefineConfig

    with _logging(verbose):
        setup = open_for_cli(model_path, db_url)
        try:
            overrides = {
                key: value
                for key, value in (
                    ("min_new_feedback", min_feedback),
                    ("lease_ttl_s", ttl_s),
                    ("steps", steps),
                    ("batch_size", batch_size),
                )
                if value is not None
            }
            config = RefineConfig.model_validate(overrides) if overrides else None
            refiner = setup.refiner(config=config, names=wanted)
            if every_s is None:
                _once(refiner, as_json)
            else:
                _forever(refiner, every_s, as_json)
        finally:
            setup.close()


def _once(refiner, as_json: bool) -> None:
    # A CronJob's deadline sends SIGTERM: finish or abandon the job (releasing its lease) first.
    with _stop_on_signals(refiner):
        outcomes = refiner.refine_once()
    if as_json:
        echo_json([o.model_dump(mode="json") for o in outcomes])
    else:
        for o in outcomes:
            click.echo(o.summary())
        if not outcomes:
            click.echo("no prompts to refine")
    failed = [o.name for o in outcomes if o.action == "failed"]
    if failed:
        raise SoftloopError(
            f"{len(failed)} refinement{'s' * (len(failed) != 1)} failed: {', '.join(failed)}"
        )


def _forever(refiner, every_s: float, as_json: bool) -> None:
    inner = refiner.refine_once

    def once_and_report():
        outcomes = inner()
        now = datetime.now(UTC)
        for o in outcomes:
            if as_json:
                click.echo(json.dumps({"at": now.isoformat(), **o.model_dump(mode="json")}))
            else:
                click.echo(f"{now:%Y-%m-%d %H:%M:%S} {o.summary()}")
        return outcomes

    # run_forever calls self.refine_once each round; report each round as it ends.
    refiner.refine_once = once_and_report
    with _stop_on_signals(refiner):
        refiner.run_forever(every_s)
    click.echo("stopped")
