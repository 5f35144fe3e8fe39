"""`softloop history | show | stats | label | export`: reviewing the correction history.

A thin layer over `agent.store.Store`: parse options, call one method, print a table, a
trajectory or JSON. Problems a user can fix (an unknown run id, a bad date, an unreachable
database) arrive as `SoftloopError`s and the entry point prints them as one line. Stored text is
printed through `printable` (agent/cli/text.py): nothing a request carried acts on the terminal.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import click

from softloop.agent.cli.options import compose, db_option, echo_json, json_option
from softloop.agent.cli.text import printable
from softloop.agent.vocabulary import STORED_RUN_STATUSES
from softloop.prompts.errors import SoftloopError

RUN_STATUSES = [s.value for s in STORED_RUN_STATUSES]
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadDateError(SoftloopError):
    pass


def parse_when(text: str, option: str = "--since", now: datetime | None = None) -> datetime:
    """'7d', '12h', '30m', '2w', 'today', 'yesterday', or an ISO date/time (UTC if no zone)."""
    now = now or datetime.now(UTC)
    lowered = text.strip().lower()
    if match := _AGE.match(lowered):
        return now - timedelta(**{_UNITS[match[2]]: float(match[1])})
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if lowered in ("today", "yesterday"):
        return midnight - timedelta(days=lowered == "yesterday")
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadDateError(
            f"cannot read {option} {text!r} as a time; use an ISO date (2026-11-28), a date and "
            "time (2026-11-28T14:30), or an age like 30m, 12h, 7d, 2w"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _open_store(db_url: str | None):
    from softloop.agent.store import Store  # imported here so `softloop --help` stays instant

    return Store(db_url)


filter_options = compose(
    click.option("--task", default=None, help="Only runs of this task."),
    click.option(
        "--status",
        type=click.Choice(RUN_STATUSES),
        default=None,
        help="Only runs that ended this way.",
    ),
    click.option(
        "--since",
        default=None,
        metavar="WHEN",
        help="Only runs from this time on: 2026-11-28, 2026-11-28T14:30, 7d, 12h.",
    ),
    click.option("--until", default=None, metavar="WHEN", help="Only runs before this time."),
    click.option(
        "--prompt",
        "prompt_version",
        default=None,
        metavar="NAME@VERSION",
        help="Only runs that used this prompt version (or any version of NAME).",
    ),
    click.option(
        "--search",
        default=None,
        metavar="TEXT",
        help="Only runs whose input or final answer contains TEXT (any case).",
    ),
)


def _filters(task, status, since, until, prompt_version, search) -> dict:
    return dict(
        task=task,
        status=status,
        prompt_version=prompt_version,
        search=search,
        since=parse_when(since, "--since") if since else None,
        until=parse_when(until, "--until") if until else None,
    )


def _cut(text: str | None, width: int) -> str:
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(headers: list[str], rows: list[list[str]], right: Collection[int] = ()) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.command()
@filter_options
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1),
    help="Show at most this many runs.",
)
@click.option("--offset", default=0, type=click.IntRange(0), help="Skip this many newest runs.")
@json_option
@db_option
def history(task, status, since, until, prompt_version, search, limit, offset, as_json, db_url):
    """List recent runs, newest first.

    \b
    Example:
      softloop history --task path --status gave_up --since 7d
    """
    runs = _open_store(db_url).list_runs(
        limit=limit, offset=offset, **_filters(task, status, since, until, prompt_version, search)
    )
    if as_json:
        echo_json([r.model_dump(mode="json") for r in runs])
        return
    if not runs:
        click.echo("No runs match.")
        return
    rows = [
        [
            r.id.hex[:8],
            _when(r.created_at)[:16],
            printable(r.task),
            r.status,
            str(r.rounds),
            _cut(r.input, 28),
            _cut(r.final_output, 28),
        ]
        for r in runs
    ]
    click.echo(
        _table(
            ["ID", "CREATED (UTC)", "TASK", "STATUS", "ROUNDS", "INPUT", "FINAL"], rows, right={4}
        )
    )


def _verdict(verdict: str) -> str:
    return "PASS" if verdict == "pass" else "FAIL"


def render_run(run) -> str:
    """A run's trajectory as text: input, each attempt with its critiques, outcome, labels."""
    took = f", {run.latency_s:.2f} s" if run.latency_s is not None else ""
    prompts = ", ".join(f"{n}@{v}" for n, v in sorted(run.prompt_versions.items())) or "-"
    out = [
        f"run {run.id}",
        f"  task {printable(run.task)}  ·  {_when(run.created_at)} UTC  ·  prompts "
        + printable(prompts),
        f"input: {printable(run.input)}",
    ]
    for a in run.attempts:
        bits = [f"attempt {a.round}"]
        if a.prompt_name:
            name = printable(a.prompt_name)
            bits.append(
                f"[{name}@{a.prompt_version}]" if a.prompt_version is not None else f"[{name}]"
            )
        if a.latency_s is not None:
            bits.append(f"{a.latency_s:.2f} s")
        if a.oracle_correct is not None:
            bits.append("oracle: " + ("right" if a.oracle_correct else "wrong"))
        out.append("  ".join(bits))
        out.append(f"  → {printable(a.output)}")
        for c in a.critiques:
            score = f" {c.score:.2f}" if c.score is not None else ""
            feedback = f": {printable(c.feedback)}" if c.feedback else ""
            out.append(f"    {_verdict(c.verdict)}{score}  {printable(c.critic)}{feedback}")
    out.append(f"final: {printable(run.final_output) if run.final_output is not None else '-'}")
    out.append(f"status: {run.status} after {run.rounds} round{'s' * (run.rounds != 1)}{took}")
    for lb in run.labels:
        answer = f", answer {printable(repr(lb.answer))}" if lb.answer is not None else ""
        who = f"{printable(lb.author)} ({lb.source})" if lb.author else lb.source
        verdict = "correct" if lb.correct else "incorrect"
        out.append(f"label: {verdict}{answer}, by {who}, {_when(lb.created_at)} UTC")
    return "\n".join(out)


@click.command()
@click.argument("run_id")
@json_option
@db_option
def show(run_id, as_json, db_url):
    """Show one run's trajectory: input, attempts, critiques, final answer, labels.

    RUN_ID may be the full id or its first few (at least 4) hex digits.

    \b
    Example:
      softloop show 3f2a9c1e
    """
    run = _open_store(db_url).get_run(run_id)
    if as_json:
        echo_json(run.model_dump(mode="json"))
    else:
        click.echo(render_run(run))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@click.command()
@click.option(
    "--by",
    type=click.Choice(["prompt", "day", "none"]),
    default="prompt",
    show_default=True,
    help="Group by prompt version, by UTC day, or not at all.",
)
@click.option("--task", default=None, help="Only runs of this task.")
@click.option("--since", default=None, metavar="WHEN", help="Only runs from this time on (7d...).")
@click.option("--until", default=None, metavar="WHEN", help="Only runs before this time.")
@json_option
@db_option
def stats(by, task, since, until, as_json, db_url):
    """Pass rate, first-attempt pass rate and mean rounds, per prompt version or per day.

    \b
    Example:
      softloop stats --by day --since 30d --task path
    """
    report = _open_store(db_url).stats(
        task=task,
        by={"prompt": "prompt_version", "day": "day", "none": None}[by],
        since=parse_when(since, "--since") if since else None,
        until=parse_when(until, "--until") if until else None,
    )
    if as_json:
        echo_json(report.model_dump(mode="json"))
        return
    title = {"prompt": "PROMPT", "day": "DAY (UTC)", "none": ""}[by]
    rows = [*report.rows, report.total]
    cells = [
        [
            r.key if r.key is not None else "all runs",
            str(r.runs),
            _pct(r.pass_rate),
            _pct(r.first_attempt_pass_rate),
            "-" if r.mean_rounds is None else f"{r.mean_rounds:.2f}",
        ]
        for r in rows
    ]
    click.echo(
        _table([title, "RUNS", "PASS", "FIRST-TRY PASS", "MEAN ROUNDS"], cells, right={1, 2, 3, 4})
    )


@click.command()
@click.argument("run_id")
@click.option(
    "--correct/--incorrect",
    "correct",
    default=None,
    help="Whether the run's final answer is right.",
)
@click.option("--answer", default=None, metavar="TEXT", help="The right answer, if you know it.")
@click.option("--author", default=None, help="Who is labelling (default: your user name).")
@db_option
def label(run_id, correct, answer, author, db_url):
    """Record whether a run's final answer was right: feedback for the refiner.

    \b
    Examples:
      softloop label 3f2a9c1e --correct
      softloop label 3f2a9c1e --incorrect --answer "olleh"
    """
    if correct is None:
        raise SoftloopError("say whether the answer was right: add --correct or --incorrect")
    if author is None:
        try:
            author = getpass.getuser()
        except (KeyError, OSError):
            author = None
    store = _open_store(db_url)
    stored = store.add_label(run_id, correct=correct, answer=answer, source="human", author=author)
    verdict = "correct" if correct else "incorrect"
    click.echo(
        f"labelled run {stored.run_id} {verdict}" + (f" (answer {answer!r})" if answer else "")
    )


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@filter_options
@db_option
def export(path, task, status, since, until, prompt_version, search, db_url):
    """Write matching runs, with their whole trajectories, as JSON lines ('-' for stdout).

    \b
    Example:
      softloop export runs.jsonl --task path --since 30d
    """
    filters = _filters(task, status, since, until, prompt_version, search)
    store = _open_store(db_url)
    if path == "-":
        store.export_jsonl(sys.stdout, **filters)
        return
    n = store.export_jsonl(path, **filters)
    click.echo(f"wrote {n} run{'s' * (n != 1)} to {path}", err=True)
