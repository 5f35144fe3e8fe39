"""The compiled loop as users embed it: invoke/ainvoke/stream/batch, subgraph, checkpointer."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TypedDict

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from softloop.agent.graph import LoopConfig, LoopState, build_graph
from softloop.critics import BatchedCritic, Critique, CritiqueRequest
from tests.agent.graph.scripted import always

FAST = LoopConfig(max_new_tokens=4, revise_samples=1, resolve_samples=0)


def test_stream_yields_each_node_update_in_order(lm, free_prompts) -> None:
    graph = build_graph(lm, free_prompts, critic=always(True), config=FAST)
    nodes = [
        next(iter(u)) for u in graph.stream({"task": "t", "input": "12"}, stream_mode="updates")
    ]
    assert nodes == ["generate", "critique", "finish"]


def test_batch_and_ainvoke_match_invoke(lm, free_prompts) -> None:
    graph = build_graph(lm, free_prompts, critic=always(True), config=FAST)
    requests = [{"task": "t", "input": text} for text in ["12", "345", "9"]]
    one_by_one = [graph.invoke(r)["final_output"] for r in requests]
    assert [s["final_output"] for s in graph.batch(requests)] == one_by_one
    assert asyncio.run(graph.ainvoke(requests[1]))["final_output"] == one_by_one[1]


class Pipeline(TypedDict, total=False):
    task: str
    input: str
    final_output: str
    status: str
    shouted: str


def test_loop_runs_as_a_node_of_a_larger_graph(lm, free_prompts) -> None:
    loop = build_graph(lm, free_prompts, critic=always(True), config=FAST)
    outer = StateGraph(Pipeline)
    outer.add_node("loop", loop)
    outer.add_node("shout", lambda s: {"shouted": s["final_output"].upper()})
    outer.add_edge(START, "loop")
    outer.add_edge("loop", "shout")
    outer.add_edge("shout", END)
    result = outer.compile().invoke({"task": "t", "input": "12"})
    assert result["status"] == "passed"
    assert result["shouted"] == result["final_output"].upper()
    assert result["final_output"] == loop.invoke({"task": "t", "input": "12"})["final_output"]


class CrashOnSecondCall(BatchedCritic):
    """Fails the first attempt, then dies once (as a process would) while scoring revisions."""

    name = "crashy"

    def __init__(self) -> None:
        self.calls = 0

    def critique_batch(self, requests: list[CritiqueRequest]) -> list[Critique]:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("worker died")
        verdict = "fail" if self.calls == 1 else "pass"
        return [Critique(verdict=verdict, score=0.5, critic=self.name) for _ in requests]


def test_interrupted_run_resumes_from_its_last_step(lm, free_prompts, tmp_path) -> None:
    conn = sqlite3.connect(tmp_path / "checkpoints.db", check_same_thread=False)
    critic = CrashOnSecondCall()
    graph = build_graph(
        lm, free_prompts, critic=critic, checkpointer=SqliteSaver(conn), config=FAST
    )
    config = {"configurable": {"thread_id": "run-1"}}
    with pytest.raises(RuntimeError, match="worker died"):
        graph.invoke({"task": "t", "input": "12"}, config)
    before = LoopState.model_validate(graph.get_state(config).values)
    assert len(before.attempts) == 1 and before.status == "running"

    state = LoopState.model_validate(graph.invoke(None, config))
    assert state.status == "passed" and len(state.attempts) == 2
    assert state.attempts[0] == before.attempts[0]  # round 1 was not redone
    assert critic.calls == 3  # critique once, the crashed revise, the resumed revise
    conn.close()


class FlakyOnce(BatchedCritic):
    """Times out on its first call, as a remote scorer would, then answers."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    def critique_batch(self, requests: list[CritiqueRequest]) -> list[Critique]:
        self.calls += 1
        if self.calls == 1:
            raise TimeoutError("scorer timed out")
        return [Critique(verdict="pass", score=0.9, critic=self.name) for _ in requests]


def test_transient_model_call_errors_are_retried(lm, free_prompts) -> None:
    critic = FlakyOnce()
    graph = build_graph(lm, free_prompts, critic=critic, config=FAST)
    state = LoopState.model_validate(graph.invoke({"task": "t", "input": "12"}))
    assert state.status == "passed" and critic.calls == 2
