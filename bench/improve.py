"""Does the agent improve over time? `python -m softloop.bench.improve [--cycles 5] [--json]`.

Starts from weak task prompts and runs improvement cycles (see `bench/cycles.py`): traffic
through the loop into a fresh SQLite store, oracle labels on at most `--label-fraction` of the
runs (standing in for occasional human review), refinement, and a measurement on the untouched
test split. The same engine as `softloop demo`, with twice its traffic per cycle (figures in
the README). Prints one row per cycle; `--json` prints `{"cycles": [{"cycle",
"first_attempt_acc", "final_acc", "mean_rounds", "critic_f1", "promoted", ...}]}`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from softloop.bench.cycles import CycleConfig, Cycles

# Twice the demo's traffic: about 12 oracle labels per task per cycle instead of 6, to show how
# the gain grows with feedback.
REQUESTS_PER_CYCLE = 720


def main(argv: list[str] | None = None) -> None:
    defaults = CycleConfig()
    parser = argparse.ArgumentParser(
        prog="python -m softloop.bench.improve",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--cycles", type=int, default=defaults.cycles)
    parser.add_argument(
        "--requests-per-cycle",
        type=int,
        default=REQUESTS_PER_CYCLE,
        help=f"traffic per cycle (default {REQUESTS_PER_CYCLE}; the demo sends "
        f"{defaults.requests_per_cycle})",
    )
    parser.add_argument("--eval-per-task", type=int, default=defaults.eval_per_task)
    parser.add_argument("--label-fraction", type=float, default=defaults.label_fraction)
    parser.add_argument("--tasks", default=None, help="comma-separated task names (default: all)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    overrides = {
        "cycles": args.cycles,
        "requests_per_cycle": args.requests_per_cycle,
        "eval_per_task": args.eval_per_task,
        "label_fraction": args.label_fraction,
        "seed": args.seed,
    }
    if args.tasks:
        overrides["tasks"] = tuple(args.tasks.split(","))
    config = CycleConfig(**overrides)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = Cycles(
            f"sqlite:///{Path(tmp) / 'improve.db'}",
            Path(tmp),
            config,
            progress=not args.json,
        )
        for row in engine.run():
            rows.append(row)
            if not args.json:
                print(
                    f"cycle {row.cycle}: first {row.first_attempt_acc:.1%}"
                    f" final {row.final_acc:.1%}"
                    f" rounds {row.mean_rounds:.2f} critic F1 {row.critic_f1:.2f}"
                    f" promoted {row.promoted or '-'} rejected {row.rejected or '-'}"
                    f" ({row.seconds:.0f}s)",
                    flush=True,
                )
                tasks = " ".join(f"{k} {v:.0%}" for k, v in row.per_task.items())
                trusted = ", ".join(f"{k} {w:.2f}" for k, w in row.critic_trust.items() if w)
                print(f"  per task: {tasks}; critic passes used: {trusted or 'none'}", flush=True)
        engine.store.close()
    if args.json:
        print(
            json.dumps(
                {
                    "config": config.model_dump(mode="json"),
                    "cycles": [r.model_dump() for r in rows],
                },
                indent=2,
            )
        )
    else:
        gain = rows[-1].first_attempt_acc - rows[0].first_attempt_acc
        print(
            f"first-attempt accuracy: {rows[0].first_attempt_acc:.1%} → "
            f"{rows[-1].first_attempt_acc:.1%} ({gain * 100:+.1f} points)"
        )


if __name__ == "__main__":
    main()
