"""Send every input of a file through the loop, one run each, and count what the loop fixed.

    python run_requests.py MODEL TASK add1-requests.txt [--max-rounds 3]

The same as `softloop run --model MODEL --task TASK INPUT` for each line, in one process (the
model loads once). Every run is stored, with the task's check as the oracle's verdict on each
attempt: what `softloop refine` learns from next.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("task")
    parser.add_argument("inputs", type=Path)
    parser.add_argument("--max-rounds", type=int, default=3)
    args = parser.parse_args()

    from softloop.agent.cli.quiet import quiet_loading
    from softloop.agent.graph import LoopState
    from softloop.agent.setup import open_setup

    quiet_loading()
    setup = open_setup(args.model)
    inputs = [line.strip() for line in args.inputs.read_text().splitlines() if line.strip()]
    first_right = final_right = passed = rounds = 0
    started = time.perf_counter()
    try:
        setup.check_task(args.task)
        graph = setup.graph()
        for text in inputs:
            state = {"task": args.task, "input": text, "max_rounds": args.max_rounds}
            final = LoopState.model_validate(graph.invoke(state))
            first = final.attempts[0]
            kept = next(a for a in reversed(final.attempts) if a.output == final.final_output)
            first_right += bool(first.oracle_correct)
            final_right += bool(kept.oracle_correct)
            passed += final.status == "passed"
            rounds += len(final.attempts)
            outputs = " → ".join(a.output for a in final.attempts)
            print(f"{text}: {outputs}  [{final.status}]", flush=True)
    finally:
        setup.close()
    n = len(inputs)
    took = time.perf_counter() - started
    print(
        f"{n} runs in {took:.0f} s: first attempt right {first_right}/{n}, final answer right "
        f"{final_right}/{n}, passed {passed}/{n}, {rounds / n:.2f} attempts per run"
    )


if __name__ == "__main__":
    main()
