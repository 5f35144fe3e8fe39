"""Where `bench.loop`'s time outside model calls goes: the run's write, the prompt pick, the rest.

The loop's nodes time their model calls; everything else in a run's wall time is overhead. Two
parts of it are the loop's own I/O and can be timed from outside by wrapping what the graph is
given: the store (`RunSink.record_run`, one transaction per finished run) and the prompt source
(`select`, the active versions picked at the start of every run). What remains is LangGraph's
steps and state validation and the nodes' own bookkeeping.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from typing import Any

from softloop.agent.graph.prompt_source import PromptRef, PromptSelection, PromptSource
from softloop.agent.store.records import RunRecord
from softloop.agent.store.sink import RunSink
from softloop.prompts import SoftPrompt


class Timings:
    """Seconds spent in the wrapped store and prompt source, by part."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def sink(self, inner: RunSink) -> RunSink:
        return _TimedSink(inner, self)

    def source(self, inner: PromptSource) -> PromptSource:
        return _TimedSource(inner, self)

    def reset(self) -> None:
        self.seconds.clear()

    def breakdown(self, wall_s: float, model_s: float, runs: int) -> dict[str, Any]:
        """Overhead split into the write, the pick and the rest, in total and per run (ms)."""
        overhead = max(0.0, wall_s - model_s)
        parts = {
            "store_write": self.seconds["store_write"],
            "prompt_pick": self.seconds["prompt_pick"],
        }
        parts["graph_and_rest"] = max(0.0, overhead - sum(parts.values()))
        return {
            "seconds": parts,
            "per_run_ms": {k: 1000 * v / max(1, runs) for k, v in parts.items()},
            "share_of_wall": {k: v / wall_s if wall_s else 0.0 for k, v in parts.items()},
        }


class _TimedSink:
    def __init__(self, inner: RunSink, timings: Timings) -> None:
        self.inner, self.timings = inner, timings

    def record_run(self, run: RunRecord) -> uuid.UUID:
        t0 = time.perf_counter()
        try:
            return self.inner.record_run(run)
        finally:
            self.timings.seconds["store_write"] += time.perf_counter() - t0


class _TimedSource:
    def __init__(self, inner: PromptSource, timings: Timings) -> None:
        self.inner, self.timings = inner, timings

    def select(self, task: str) -> PromptSelection:
        t0 = time.perf_counter()
        try:
            return self.inner.select(task)
        finally:
            self.timings.seconds["prompt_pick"] += time.perf_counter() - t0

    def load(self, ref: PromptRef) -> SoftPrompt:
        return self.inner.load(ref)

    def __getattr__(self, name: str) -> Any:  # anything else the registry offers
        return getattr(self.inner, name)
