"""`python -m softloop.bench.reliability [--json]`: nothing lost or doubled under load and faults.

Five scenarios, each on its own throw-away PostgreSQL database and `$SOFTLOOP_HOME`, with a tiny
random Llama (built and saved to a temporary folder, loaded as a user's model is) so that runs
cost milliseconds and the figures are about softloop, not the model:

- `load`: agent processes run the loop against one database while a refiner process retrains
  and promotes the task prompt. Every run must be stored exactly once, and record the version
  it really used: each agent notes the version in the manifest of every prompt file it loaded
  (written when the version was registered, and checksummed), and that is compared with the
  stored run.
- `kills`: the same, while every connection to the database is terminated
  (`pg_terminate_backend`) at a fixed interval: writers retry, reads fall back to the last known
  prompt versions, runs arrive exactly once (spooled ones replayed at the end, as
  `softloop db replay` would).
- `refiner-kills`: a refiner is SIGKILLed at a random point of its cycle, again and again. The
  active version must stay loadable, and unchanged unless the promotion committed (then the new
  version's files verify); the next refiner must take the prompt over once the lease runs out.
- `refiners`: several refiners released together, cycle after cycle, on two prompts: no prompt
  trained twice in a cycle, none promoted twice.
- `corpus`: bad input through the command line (prompt files, requests, JSONL, URLs,
  manifests): every case one line, a non-zero exit, and nothing written.

The refiner's gate is set to promote every candidate (its evaluation answers are longer than
the model may write, so both versions score 0 and 0 >= 0 + margin 0): promotions then happen as
often as the refiner can make them, which is the point of the load scenarios.

`--quick` scales every scenario down (the CI test uses it); the defaults are the issue's: 8
agents x 250 runs, 20 refiner kills, 4 refiners x 10 cycles.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import torch

from softloop.bench.reliability_corpus import bad_input_corpus
from softloop.bench.reliability_kit import (
    SCENARIOS,
    Databases,
    ReliabilityConfig,
    ScenarioResult,
    tiny_model,
)
from softloop.bench.reliability_load import agents_under_load
from softloop.bench.reliability_refine import concurrent_refiners, refiner_kills
from softloop.prompts import FrozenLM

__all__ = ["SCENARIOS", "ReliabilityConfig", "ScenarioResult", "main", "run", "table"]

@contextlib.contextmanager
def _workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="softloop-reliability-") as tmp:
        yield Path(tmp)


def run(
    cfg: ReliabilityConfig, progress: Callable[[str], None] | None = None
) -> list[ScenarioResult]:
    """Every scenario in `cfg.scenarios`, in order; one result each."""
    unknown = set(cfg.scenarios) - set(SCENARIOS)
    if unknown:
        raise click.UsageError(f"unknown scenarios {sorted(unknown)}; pick from {SCENARIOS}")
    torch.set_num_threads(1)
    rng = random.Random(cfg.seed)
    say = progress or (lambda message: None)
    results = []
    home_before = os.environ.get("SOFTLOOP_HOME")
    dbs = Databases(cfg.admin_url)
    try:
        with _workspace() as work:
            model = tiny_model(work / "tiny-llama", seed=cfg.seed)
            lm = FrozenLM.from_pretrained(model)
            steps: dict[str, Callable[[], ScenarioResult]] = {
                "load": lambda: agents_under_load(cfg, lm, dbs, work, kill=False),
                "kills": lambda: agents_under_load(cfg, lm, dbs, work, kill=True),
                "refiner-kills": lambda: refiner_kills(cfg, lm, dbs, work, rng),
                "refiners": lambda: concurrent_refiners(cfg, lm, dbs, work),
                "corpus": lambda: bad_input_corpus(cfg, lm, model, dbs, work),
            }
            for name in cfg.scenarios:
                say(f"{name}...")
                result = steps[name]()
                say(f"{name}: {'ok' if result.ok else 'FAILED'} ({result.seconds:.0f} s)")
                results.append(result)
    finally:
        dbs.close()
        if home_before is None:
            os.environ.pop("SOFTLOOP_HOME", None)
        else:
            os.environ["SOFTLOOP_HOME"] = home_before
    return results


def table(results: list[ScenarioResult]) -> str:
    """The README's table: one row per scenario."""
    head = "| scenario | load | faults | unit | expected | stored | duplicated | lost | ok |"
    rows = [head, "|" + "---|" * 9]
    for r in results:
        rows.append(
            f"| {r.name} | {r.load} | {r.faults} | {r.unit} | {r.expected} | {r.stored} | "
            f"{r.duplicated} | {r.lost} | {'yes' if r.ok else 'NO'} |"
        )
    return "\n".join(rows)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON.")
@click.option("--quick", is_flag=True, help="Every scenario scaled down (a minute or two).")
@click.option(
    "--scenarios",
    default=",".join(SCENARIOS),
    show_default=True,
    help="Which scenarios, comma-separated.",
)
@click.option("--agents", type=click.IntRange(1), default=None, help="Agent processes [8].")
@click.option("--runs", type=click.IntRange(1), default=None, help="Runs per agent [250].")
@click.option("--seed", default=0, show_default=True)
def main(
    as_json: bool, quick: bool, scenarios: str, agents: int | None, runs: int | None, seed: int
) -> None:
    """Nothing lost, nothing doubled: agents, refiners and bad input against one PostgreSQL."""
    overrides: dict[str, Any] = {"scenarios": tuple(s for s in scenarios.split(",") if s)}
    overrides.update({k: v for k, v in (("agents", agents), ("runs", runs)) if v is not None})
    overrides["seed"] = seed
    cfg = ReliabilityConfig.quick(**overrides) if quick else ReliabilityConfig(**overrides)
    results = run(cfg, progress=lambda m: click.echo(m, err=True))
    if as_json:
        payload: dict[str, Any] = {
            "config": cfg.model_dump(mode="json", exclude={"admin_url"}),
            "results": [r.model_dump(mode="json") for r in results],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(table(results))
        for r in results:
            shown = {k: v for k, v in r.details.items() if k != "cases"}
            click.echo(f"{r.name}: {json.dumps(shown)}")
    if not all(r.ok for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
