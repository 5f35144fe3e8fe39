"""`softloop demo`: the whole mission on the embedded reference world, in one command."""

from __future__ import annotations

import json
from pathlib import Path

import click

QUICK = {"cycles": 2, "requests_per_cycle": 120, "tasks": ("path", "triangle"), "eval_per_task": 25}


@click.command()
@click.option("--cycles", type=click.IntRange(1, 100), default=None, help="Refinement cycles [5].")
@click.option(
    "--requests-per-cycle",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Requests sent through the loop per cycle [360].",
)
@click.option(
    "--quick", is_flag=True, help="Two tasks, two short cycles: about two minutes on 2 CPU cores."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("softloop-demo"),
    show_default=True,
    help="Where the database, prompt versions, report and chart go.",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="Use this database instead of a fresh SQLite file in --out (e.g. a PostgreSQL URL).",
)
def demo(
    cycles: int | None,
    requests_per_cycle: int | None,
    quick: bool,
    out_dir: Path,
    db_url: str | None,
) -> None:
    """Watch agents correct themselves and improve, on the embedded tiny model.

    Starts from deliberately weak task and critique prompts. Each cycle sends requests through
    the generate → critique → revise loop (every attempt lands in the database), lets the
    refiner retrain the prompts on that feedback (a new version is promoted only if it
    measurably beats the old one), and measures the loop on an untouched test split.

    \b
    Example:
        softloop demo --quick
        softloop history --db sqlite:///softloop-demo/softloop.db
    """
    from softloop.agent.cli.quiet import quiet_loading
    from softloop.agent.store.engine import safe_url
    from softloop.bench.cycles import CycleConfig, CycleRow, Cycles

    quiet_loading()  # softloop's own lines on stderr, not the model loader's bar

    overrides: dict = dict(QUICK) if quick else {}
    if cycles is not None:
        overrides["cycles"] = cycles
    if requests_per_cycle is not None:
        overrides["requests_per_cycle"] = requests_per_cycle
    config = CycleConfig(**overrides)
    out_dir.mkdir(parents=True, exist_ok=True)
    fresh_db = db_url is None
    db_file = out_dir / "softloop.db"
    if fresh_db and db_file.exists():
        raise click.UsageError(
            f"{db_file} exists from an earlier demo; pass another --out or delete it"
        )
    url = db_url or f"sqlite:///{db_file.resolve()}"
    # Printed and written with the password masked: a report is shared, a terminal is watched.
    shown = safe_url(url)
    tasks = ", ".join(config.tasks)
    click.echo(f"softloop demo: {config.cycles} cycles over {tasks}; store {shown}")
    engine = Cycles(url, out_dir, config)
    rows: list[CycleRow] = []
    header = (
        f"{'cycle':>5}  {'first':>6}  {'final':>6}  {'rounds':>6}  {'critic F1':>9}"
        f"  {'traffic F1':>10}  promoted"
    )
    try:
        for row in engine.run():
            if not rows:
                click.echo(header)
            rows.append(row)
            promoted = ", ".join(row.promoted) or "-"
            traffic = "-" if row.traffic_critic_f1 is None else f"{row.traffic_critic_f1:.2f}"
            click.echo(
                f"{row.cycle:>5}  {row.first_attempt_acc:6.1%}  {row.final_acc:6.1%}  "
                f"{row.mean_rounds:6.2f}  {row.critic_f1:9.2f}  {traffic:>10}  {promoted}"
            )
    except KeyboardInterrupt:
        done = rows[-1].cycle if rows else "none"
        click.echo(
            f"\ninterrupted; completed cycles: {done}. Every stored run is complete "
            f"(one transaction each); review them with: softloop history --db {shown}",
            err=True,
        )
        raise SystemExit(130) from None
    finally:
        report = {
            "config": config.model_dump(mode="json"),
            "db": shown,
            "cycles": [r.model_dump() for r in rows],
        }
        (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        if rows:
            plot(rows, out_dir / "improvement.png")
        engine.store.close()
    click.echo(f"\nreport: {out_dir / 'report.json'}\nchart:  {out_dir / 'improvement.png'}")
    click.echo("review what happened:")
    click.echo(f"  softloop history --db {shown}")
    click.echo(f"  softloop show RUN_ID --db {shown}")
    click.echo(f"  softloop prompts list --db {shown}")


def plot(rows: list, path: Path) -> None:
    """First-attempt and final accuracy per cycle, with promotions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cycles = [r.cycle for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(cycles, [100 * r.first_attempt_acc for r in rows], "o-", label="first attempt")
    ax.plot(cycles, [100 * r.final_acc for r in rows], "s-", label="final (after self-correction)")
    for r in rows:
        if r.promoted:
            ax.annotate(
                f"+{len(r.promoted)}",
                (r.cycle, 100 * r.first_attempt_acc),
                textcoords="offset points",
                xytext=(0, -14),
                ha="center",
                fontsize=8,
            )
    ax.set_xlabel("cycle (0 = weak start; +n = prompt versions promoted)")
    ax.set_ylabel("accuracy on the untouched test split (%)")
    ax.set_xticks(cycles)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("softloop: self-correction and refinement on the reference world")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
