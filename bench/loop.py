"""Measure the self-correction loop on the reference world: `python -m softloop.bench.loop`.

Runs the test split of every reference task through the generate → critique → revise graph with
the shipped prompts (a real SQLite store on a temp file, the oracle's truth stored beside the
critic's verdicts but never shown to the loop), and prints:

- first-attempt and final accuracy (oracle), the wrong→right and right→wrong flips;
- mean rounds;
- the critic's precision / recall at catching wrong attempts (every judged attempt), and how
  many first-attempt mistakes it caught: the most the loop can fix;
- where the time goes: model calls vs graph + store overhead.

Each run is written inside its request, as `softloop run` does; `--writes background` hands the
writes to a `WriteBehind` (the final flush is timed). On a local SQLite file that buys no wall
time: the write's Python work competes with the model calls' for the interpreter lock, so it
shows up as slower model calls instead of overhead. It pays where a write waits on a network.

`--critic learned` (default) is the critic the loop builds when given none: the task prompt's
confidence, then the critique prompt if its recorded balanced accuracy clears
`LoopConfig.min_critique_balanced_acc`. `--critic critique` judges with the critique prompt
alone, whatever its record. `--critic oracle` swaps in the exact checker: an upper bound that
separates what the loop's machinery (explore several revisions, keep the best) can do from what
the critic lets it do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import torch
from tqdm import tqdm

from softloop.agent.graph import LoopConfig, LoopState, WriteBehind
from softloop.agent.setup import open_setup
from softloop.bench.evaluation import prf
from softloop.bench.loop_overhead import Timings, replay_seconds
from softloop.bench.tasks import SPLITS, TASKS, Split
from softloop.bench.world import reference_world
from softloop.critics import OracleCritic

CRITICS = ("learned", "critique", "oracle")
WRITES = ("sync", "background")


def summarise(states: list[LoopState], wall_s: float) -> dict:
    """The loop's figures from finished runs that carry oracle truth on every attempt."""
    first = [s.attempts[0].oracle_correct for s in states]
    final = [TASKS[s.task].check(s.input, s.final_output or "") for s in states]
    judged = [a for s in states for a in s.attempts]
    critic = prf(
        [not a.critique.passed for a in judged], [a.oracle_correct is False for a in judged]
    )
    model_s = sum(a.model_seconds for a in judged) + sum(s.choice_seconds for s in states)
    n = len(states)
    # The loop can only fix a mistake its critic catches on the first attempt.
    missed = [s.attempts[0] for s in states if s.attempts[0].oracle_correct is False]
    caught = sum(not a.critique.passed for a in missed)
    return {
        "n": n,
        "first_attempt_acc": sum(bool(a) for a in first) / n,
        "final_acc": sum(bool(b) for b in final) / n,
        "wrong_to_right": sum((not a) and b for a, b in zip(first, final, strict=True)),
        "right_to_wrong": sum(a and not b for a, b in zip(first, final, strict=True)),
        "mean_rounds": sum(len(s.attempts) for s in states) / n,
        "critic_precision": critic["precision"],
        "critic_recall": critic["recall"],
        "critic_f1": critic["f1"],
        "first_wrong": len(missed),
        "first_wrong_caught": caught,
        "passed": sum(s.status == "passed" for s in states) / n,
        "wall_s": wall_s,
        "model_s": model_s,
        "overhead_fraction": max(0.0, wall_s - model_s) / wall_s if wall_s else 0.0,
    }


def _critic_name(states: list[LoopState], choice: str) -> str:
    """The critic the runs were judged by, as it names itself (task prompt versions as TASK)."""
    names = {s.attempts[0].critique.critic.replace(f"{s.task}@", "TASK@") for s in states}
    return ", ".join(sorted(names)) or choice


def run(
    n: int = 200,
    max_rounds: int = 3,
    seed: int = 0,
    progress: bool = True,
    critic: str = "learned",
    writes: str = "sync",
    split: str = "test",
    switch_margin: float | None = None,
    min_verifier_auc: float | None = None,
) -> dict:
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        # The shipped prompts on a fresh SQLite store; the oracle's truth is stored beside the
        # critic's verdicts but never shown to the loop.
        db_url = f"sqlite:///{Path(tmp) / 'loop.db'}"
        setup = open_setup(
            db_url=db_url, home=Path(tmp), world=reference_world(), auto_upgrade=True
        )
        config = LoopConfig(max_rounds=max_rounds, seed=seed)
        if switch_margin is not None:
            config = config.model_copy(update={"switch_margin": switch_margin})
        if min_verifier_auc is not None:
            config = config.model_copy(update={"min_verifier_auc": min_verifier_auc})
        if critic == "critique":
            config = config.model_copy(update={"confidence_threshold": None})
        exact = None  # None: the loop's default critic (`agent.graph.nodes.learned_critic`)
        if critic == "oracle":
            exact = OracleCritic(
                {k: t.check for k, t in TASKS.items()}, {k: t.hint for k, t in TASKS.items()}
            )
        writer = WriteBehind(setup.store) if writes == "background" else None
        # The store and the prompt source are timed from outside: the overhead's breakdown.
        timings = Timings()
        timed = dataclasses.replace(setup, registry=cast(Any, timings.source(setup.registry)))
        graph = timed.graph(config=config, critic=exact, store=timings.sink(writer or setup.store))
        requests = [
            {"task": name, "input": x}
            for name, task in TASKS.items()
            for x, _ in task.split(cast(Split, split), n, seed=seed)
        ]
        graph.invoke(requests[0])  # warm-up: first-call allocations are not the loop's cost
        timings.reset()
        states: list[LoopState] = []
        t0 = time.perf_counter()
        for request in tqdm(requests, desc="loop", disable=not progress, file=sys.stderr):
            states.append(LoopState.model_validate(graph.invoke(request)))
        if writer is not None:
            writer.close()  # every run stored before the clock stops
        wall = time.perf_counter() - t0
        unstored = sum(s.run_id is None for s in states) + (writer.failures if writer else 0)
        if unstored:
            raise SystemExit(f"{unstored} runs were not stored; see the log above")
        setup.close()
    report = summarise(states, wall)
    report["per_task"] = {
        name: summarise([s for s in states if s.task == name], wall) for name in TASKS
    }
    floor = replay_seconds(states, config)
    report["overhead"] = timings.breakdown(wall, report["model_s"], len(states), floor)
    report["config"] = config.model_dump()
    report["critic"] = _critic_name(states, critic)
    report["critic_choice"] = critic
    report["writes"] = writes
    report["split"] = split
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m softloop.bench.loop",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--n", type=int, default=200, help="test inputs per task (default 200: 1,200 requests)"
    )
    parser.add_argument("--max-rounds", type=int, default=3)
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="draws this sample of test inputs and seeds the sampled revisions (default 0)",
    )
    parser.add_argument(
        "--critic",
        choices=CRITICS,
        default="learned",
        help="learned: the loop's default, the task prompt's confidence, then the critique prompt "
        "if it has a good enough record; critique: the critique prompt alone; oracle: the exact "
        "checker, an upper bound",
    )
    parser.add_argument(
        "--writes",
        choices=WRITES,
        default="sync",
        help="sync: each run is stored inside its request, as `softloop run` does (default); "
        "background: a WriteBehind stores the runs on a background thread",
    )
    parser.add_argument(
        "--split",
        choices=[s for s in SPLITS if s != "train"],
        default="test",
        help="test (default), or dev: where the loop's settings are chosen",
    )
    parser.add_argument(
        "--switch-margin",
        type=float,
        default=None,
        help="LoopConfig.switch_margin for this run (default: the loop's own)",
    )
    parser.add_argument(
        "--min-verifier-auc",
        type=float,
        default=None,
        help="LoopConfig.min_verifier_auc for this run (default: the loop's own)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run(
        args.n,
        args.max_rounds,
        args.seed,
        progress=not args.json,
        critic=args.critic,
        writes=args.writes,
        split=args.split,
        switch_margin=args.switch_margin,
        min_verifier_auc=args.min_verifier_auc,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return
    head = ("task", "first", "final", "w→r", "r→w", "rounds", "P", "R")
    print("{:8} {:>6} {:>6} {:>4} {:>4} {:>6} {:>5} {:>5}".format(*head))
    for name, r in [*report["per_task"].items(), ("all", report)]:
        print(
            f"{name:8} {r['first_attempt_acc']:6.1%} {r['final_acc']:6.1%} {r['wrong_to_right']:4d}"
            f" {r['right_to_wrong']:4d} {r['mean_rounds']:6.2f} {r['critic_precision']:5.2f}"
            f" {r['critic_recall']:5.2f}"
        )
    wrong, caught = report["first_wrong"], report["first_wrong_caught"]
    print(
        f"the critic caught {caught} of {wrong} first-attempt mistakes "
        f"({caught / max(1, wrong):.0%}): the loop can fix at most those, "
        f"+{caught / report['n']:.1%} points"
    )
    print(
        f"time: {report['wall_s']:.1f}s total, {report['model_s']:.1f}s in model calls, "
        f"overhead {report['overhead_fraction']:.1%} (graph + store, {report['writes']} writes)"
    )
    per_run = report["overhead"]["per_run_ms"]
    print(
        f"outside model calls, per run: store write {per_run['store_write']:.2f} ms, prompt pick "
        f"{per_run['prompt_pick']:.2f} ms, LangGraph and the rest "
        f"{per_run['graph_and_rest']:.2f} ms"
    )
    share = report["overhead"]["share_of_wall"]["langgraph_alone"]
    print(
        f"of which LangGraph alone (the same runs replayed through the graph with nodes that do "
        f"nothing): {per_run['langgraph_alone']:.2f} ms, {share:.1%} of the wall time"
    )


if __name__ == "__main__":
    main()
