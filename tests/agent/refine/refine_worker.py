"""A refiner in its own process, for the crash and concurrency tests (not a test module).

    python -m tests.agent.refine.refine_worker DB_URL PROMPT_ROOT [--steps N] [--ttl S]
        [--ready FILE --go FILE]

Builds the same tiny model as the `lm` fixture of `tests/agent/refine/conftest.py` (seeded, so
the fingerprint matches the prompts registered by the test), refines the prompt `t` once and
prints the outcome as one JSON line. With --ready/--go it touches READY and waits for GO before
refining, so two workers can be released at the same moment.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from softloop.agent.refine import EvalSets, RefineConfig, Refiner
from softloop.agent.registry import PromptRegistry
from softloop.agent.store import Store
from tests.agent.refine.feedback import EVAL
from tests.prompts.models import make_lm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("root", type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--ttl", type=float, default=900.0)
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--go", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = Store(args.db_url, auto_upgrade=False)
    lm = make_lm("llama", seed=11)
    config = RefineConfig(
        min_new_feedback=10, steps=args.steps, lr=0.1, batch_size=16, lease_ttl_s=args.ttl
    )
    refiner = Refiner(
        store,
        lm,
        PromptRegistry(store, lm, args.root),
        config=config,
        eval_sets=EvalSets(tasks={"t": EVAL}),
        names=["t"],
    )
    if args.ready is not None:
        args.ready.touch()
        while not args.go.exists():
            time.sleep(0.01)
    print(refiner.refine("t").model_dump_json(), flush=True)


if __name__ == "__main__":
    main()
