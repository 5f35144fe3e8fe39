"""Concurrent loop runs sharing the model's forward passes, against runs one at a time.

The same requests go through the reference world's loop twice per repetition: one at a time on
the plain `FrozenLM`, and `runs` at a time through LangGraph's `batch` on a `MicroBatchLM` that
coalesces the concurrent runs' model calls. Both graphs write every run to the same SQLite store,
as a served loop does. The answers must be identical; throughput is the ratio of wall times.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from softloop.agent.graph import LoopConfig
from softloop.agent.setup import open_setup
from softloop.bench.tasks import TASKS
from softloop.bench.world import reference_world
from softloop.prompts.microbatch import MicroBatchConfig, MicroBatchLM


def loop_concurrency(
    runs: int = 16,
    per_task: int = 16,
    reps: int = 3,
    seed: int = 0,
    clock: str = "cpu",
    batching: MicroBatchConfig | None = None,
) -> dict[str, Any]:
    """Throughput of `runs` concurrent loop runs over one at a time, and whether answers agree.

    `clock`: "cpu" times the process's CPU (all threads), "wall" the wall clock.
    """
    now = time.process_time if clock == "cpu" else time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        setup = open_setup(
            db_url=f"sqlite:///{Path(tmp) / 'loop.db'}",
            home=Path(tmp),
            world=reference_world(),
            auto_upgrade=True,
        )
        config = LoopConfig(seed=seed)
        requests = [
            {"task": name, "input": x}
            for name, task in TASKS.items()
            for x, _ in task.split("test", per_task)
        ]
        shared = MicroBatchLM(setup.lm, batching)
        try:
            plain = setup.graph(config=config)
            # The same setup with the micro-batched model in the loop (`build_graph` takes any
            # `PromptedLM`; the registry keeps the real model to check prompts against).
            batched = dataclasses.replace(setup, lm=cast(Any, shared)).graph(config=config)
            batch_config: Any = {"max_concurrency": runs}
            plain.invoke(requests[0])  # warm-up: first-call allocations, prefix caches
            batched.batch(requests[:runs], config=batch_config)
            one: list[float] = []
            many: list[float] = []
            passes_cpu: list[float] = []  # the batcher's thread, in the concurrent repetitions
            identical = True
            for rep in range(reps):
                sides = ["one", "many"] if rep % 2 == 0 else ["many", "one"]
                answers: dict[str, list[tuple[Any, Any]]] = {}
                for side in sides:
                    t0, cpu0 = now(), shared.stats.cpu_s
                    if side == "one":
                        states = [plain.invoke(r) for r in requests]
                    else:
                        states = batched.batch(requests, config=batch_config)
                    (one if side == "one" else many).append(now() - t0)
                    if side == "many":
                        passes_cpu.append(shared.stats.cpu_s - cpu0)
                    answers[side] = [(s["final_output"], s["status"]) for s in states]
                identical = identical and answers["one"] == answers["many"]
        finally:
            shared.close()
            setup.close()
    stats = shared.stats
    return {
        "ratio": statistics.median(one) / statistics.median(many),
        "identical": identical,
        "requests": len(requests),
        "concurrency": runs,
        "one_at_a_time_s": one,
        "concurrent_s": many,
        "rows_per_pass": stats.rows_per_pass,
        "passes": stats.passes,
        "worker_busy_s": stats.busy_s,
        # CPU of the batcher's forward passes per concurrent repetition; on the CPU clock the
        # rest of `concurrent_s` is the runs' own threads (graph, critic, store, batching).
        "passes_cpu_s": passes_cpu,
        "batching": dataclasses.asdict(shared.config),
    }
