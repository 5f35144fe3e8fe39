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
from collections.abc import Sequence
from typing import Any

from softloop.agent.graph import LoopConfig, LoopState
from softloop.agent.graph.prompt_source import PromptRef, PromptSelection, PromptSource
from softloop.agent.store.records import RunRecord
from softloop.agent.store.sink import RunSink
from softloop.agent.vocabulary import RunStatus
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

    def breakdown(
        self, wall_s: float, model_s: float, runs: int, floor_s: float | None = None
    ) -> dict[str, Any]:
        """Overhead split into the write, the pick and the rest, in total and per run (ms);
        with `floor_s` (`replay_seconds`), the part of the rest that is LangGraph's own."""
        overhead = max(0.0, wall_s - model_s)
        parts = {
            "store_write": self.seconds["store_write"],
            "prompt_pick": self.seconds["prompt_pick"],
        }
        parts["graph_and_rest"] = max(0.0, overhead - sum(parts.values()))
        if floor_s is not None:
            parts["langgraph_alone"] = floor_s
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


def replay_seconds(states: Sequence[LoopState], config: LoopConfig) -> float:
    """Seconds LangGraph alone takes to step the same runs again: the loop's graph, state and
    routing, with nodes that only hand back what the real ones did (no model, critic or store).

    What is left of a run's overhead with every node free: the floor that no change inside the
    nodes can go below. Each replay must end where its run ended (same answer, same number of
    attempts), or this raises.
    """
    from langgraph.graph import StateGraph
    from langgraph.types import RetryPolicy

    from softloop.agent.graph.graph import wire_loop
    from softloop.agent.graph.state import Candidate

    def recorded(state: LoopState) -> LoopState:
        return states[state.metadata["replay"]]

    def candidate(run: LoopState, k: int) -> Candidate:
        attempt = run.attempts[k]
        return Candidate(output=attempt.output, prompt=attempt.prompt, model_seconds=0)

    def fields(run: LoopState, *names: str) -> dict:
        return {name: getattr(run, name) for name in names}

    def generate(state: LoopState) -> dict:
        run = recorded(state)
        started = fields(run, "selection", "max_rounds", "idempotency_key", "started_at")
        return {**started, "status": RunStatus.RUNNING, "candidate": candidate(run, 0)}

    def critique(state: LoopState) -> dict:
        attempt = recorded(state).attempts[state.round]
        return {"attempts": [attempt], "candidate": None, "round": state.round + 1}

    def revise(state: LoopState) -> dict:
        run = recorded(state)
        fresh = state.round < len(run.attempts)
        return {"candidate": candidate(run, state.round) if fresh else None}

    def finish(state: LoopState) -> dict:
        return fields(recorded(state), "status", "final_output", "latency_s", "run_id")

    builder = StateGraph(LoopState)
    wire_loop(
        builder, generate, critique, revise, finish, RetryPolicy(max_attempts=config.model_retries)
    )
    graph = builder.compile().with_config(recursion_limit=config.recursion_limit)
    requests = [
        LoopState(task=s.task, input=s.input, metadata={"replay": i}) for i, s in enumerate(states)
    ]
    graph.invoke(requests[0])
    t0 = time.perf_counter()
    ends = [graph.invoke(request) for request in requests]
    seconds = time.perf_counter() - t0
    for run, end in zip(states, ends, strict=True):
        if (end["final_output"], len(end["attempts"])) != (run.final_output, len(run.attempts)):
            raise RuntimeError(f"the replay of {run.task} {run.input!r} took another path")
    return seconds
