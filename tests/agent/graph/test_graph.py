"""The loop's paths on a real tiny model: pass, revise, give up, store, prompt pick-up."""

from __future__ import annotations

import pytest

from softloop.agent.graph import (
    LoopConfig,
    LoopState,
    PromptRef,
    PromptSelection,
    WriteBehind,
    build_graph,
)
from softloop.agent.store import Store
from softloop.critics import BatchedCritic, Critique, CritiqueRequest
from softloop.prompts import SoftPrompt
from tests.agent.graph.scripted import always

FAST = LoopConfig(max_new_tokens=4, revise_samples=2, resolve_samples=1)


def run(graph, text: str = "12", task: str = "t", **extra) -> LoopState:
    return LoopState.model_validate(graph.invoke({"task": task, "input": text, **extra}))


def test_first_attempt_that_passes_finishes_at_once(lm, free_prompts) -> None:
    state = run(build_graph(lm, free_prompts, critic=always(True), config=FAST))
    assert state.status == "passed"
    assert len(state.attempts) == 1 and state.round == 1
    assert state.final_output == state.attempts[0].output
    assert state.attempts[0].prompt == PromptRef(name="free", version=1)


class ScoreByLength(BatchedCritic):
    """Fails everything, scoring longer answers higher, so "best-scored" is checkable."""

    name = "by-length"

    def critique_batch(self, requests: list[CritiqueRequest]) -> list[Critique]:
        return [
            Critique(
                verdict="fail", score=min(len(r.answer), 9) / 10, feedback="no", critic=self.name
            )
            for r in requests
        ]


def test_failing_runs_stop_at_max_rounds_and_return_best_scored(lm, free_prompts) -> None:
    graph = build_graph(lm, free_prompts, critic=ScoreByLength(), max_rounds=3, config=FAST)
    for text in ["12", "345", "b"]:
        state = run(graph, text)
        assert state.status == "gave_up"
        assert 1 <= len(state.attempts) <= 3
        outputs = [a.output for a in state.attempts]
        assert len(set(outputs)) == len(outputs), "a repeated answer must never be re-judged"
        best = max(state.attempts, key=lambda a: a.critique.score)
        assert state.final_output == best.output
        # Every revision explored greedy + 2 revise samples + 1 fresh sample.
        assert all(a.n_candidates == 4 for a in state.attempts[1:])


def test_revision_identical_to_earlier_attempt_gives_up(lm, const_prompts) -> None:
    # Near-greedy sampling: every candidate is the constant answer already judged wrong.
    config = FAST.model_copy(update={"temperature": 0.01})
    state = run(build_graph(lm, const_prompts, critic=always(False), max_rounds=5, config=config))
    assert state.status == "gave_up"
    assert [a.output for a in state.attempts] == ["7"]
    assert state.final_output == "7"


def test_max_rounds_in_state_overrides_config(lm, free_prompts) -> None:
    graph = build_graph(lm, free_prompts, critic=ScoreByLength(), config=FAST)
    assert len(run(graph, "12", max_rounds=1).attempts) == 1


def test_recursion_limit_is_set_explicitly(lm, free_prompts) -> None:
    graph = build_graph(lm, free_prompts, critic=always(True), max_rounds=4, config=FAST)
    assert graph.config["recursion_limit"] == LoopConfig(max_rounds=4).recursion_limit


def test_without_any_critic_the_error_says_what_to_do(lm, free_prompts) -> None:
    no_confidence = FAST.model_copy(update={"confidence_threshold": None})
    with pytest.raises(Exception, match="no critic"):
        run(build_graph(lm, free_prompts, config=no_confidence))


def test_by_default_the_task_prompts_confidence_judges_the_answer(lm, const_prompts) -> None:
    # No critic given and no critique prompt: the task prompt's own confidence is the critic.
    state = run(build_graph(lm, const_prompts, config=FAST))
    assert state.status == "passed" and state.final_output == "7"
    assert state.attempts[0].critique.critic == "confidence:const@1"


def test_a_doubtful_answer_is_revised_with_feedback_on_where_it_goes_wrong(
    lm, free_prompts
) -> None:
    # Untrained prompts are unsure of everything they write: every attempt fails on confidence
    # and hands the revise step a position, not an empty string.
    state = run(build_graph(lm, free_prompts, max_rounds=2, config=FAST), "345")
    assert state.status == "gave_up" and len(state.attempts) == 2
    first = state.attempts[0].critique
    assert first.critic == "confidence:free@1" and first.score < 0.6
    assert first.feedback in {"too short", "too long"} or first.feedback.startswith("at ")


class SwitchingSource:
    """A registry stand-in whose active task version changes between runs."""

    def __init__(self, prompts: dict[int, SoftPrompt]):
        self.prompts, self.active = prompts, min(prompts)

    def select(self, task: str) -> PromptSelection:
        return PromptSelection(task=PromptRef(name="t", version=self.active))

    def load(self, ref: PromptRef) -> SoftPrompt:
        return self.prompts[ref.version]


def test_newly_promoted_version_is_used_by_the_next_run(lm, const_prompts, free_prompts) -> None:
    source = SwitchingSource({1: free_prompts.task, 2: const_prompts.task})
    graph = build_graph(lm, source, critic=always(True), config=FAST)
    first = run(graph)
    source.active = 2  # promotion happens between runs, the graph is not rebuilt
    second = run(graph)
    assert first.selection.task.version == 1 and second.selection.task.version == 2
    assert second.final_output == "7"


def test_run_is_stored_with_attempts_critiques_versions_and_oracle(lm, free_prompts, store) -> None:
    oracle = lambda task, text, answer: answer == text[::-1]  # noqa: E731
    graph = build_graph(
        lm, free_prompts, critic=ScoreByLength(), store=store, oracle=oracle, config=FAST
    )
    state = run(graph, "345", metadata={"user": "u1"})
    assert state.run_id is not None and state.store_error is None
    stored = store.get_run(state.run_id)
    assert stored.status == "gave_up" and stored.final_output == state.final_output
    assert [a.output for a in stored.attempts] == [a.output for a in state.attempts]
    assert [a.oracle_correct for a in stored.attempts] == [
        a.output == "543" for a in state.attempts
    ]
    assert stored.attempts[0].critiques[0].critic == "by-length"
    assert stored.prompt_versions == {"free": 1, "free-revise": 1}


def test_store_outage_returns_the_answer_and_spools_the_run(
    lm, free_prompts, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path))
    dead = Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    graph = build_graph(lm, free_prompts, critic=always(True), store=dead, config=FAST)
    state = run(graph)
    assert state.status == "passed" and state.final_output
    assert state.run_id is None and "was not stored" in state.store_error
    spooled = (tmp_path / "unsaved-runs.jsonl").read_text().splitlines()
    assert len(spooled) == 1 and state.idempotency_key in spooled[0]


def test_write_behind_stores_every_run_under_the_id_the_run_was_given(lm, free_prompts, store):
    with WriteBehind(store) as writer:
        graph = build_graph(lm, free_prompts, critic=ScoreByLength(), store=writer, config=FAST)
        states = [run(graph, text) for text in ["12", "345", "b", "12"]]
        writer.flush()
        assert writer.failures == 0
    for state in states:
        stored = store.get_run(state.run_id)
        assert stored.final_output == state.final_output
        assert [a.output for a in stored.attempts] == [a.output for a in state.attempts]
    assert len({s.run_id for s in states}) == 4


def test_write_behind_outage_spools_and_counts_the_run(lm, free_prompts, tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path))
    dead = Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    writer = WriteBehind(dead)
    graph = build_graph(lm, free_prompts, critic=always(True), store=writer, config=FAST)
    state = run(graph)
    assert state.status == "passed" and state.final_output  # the answer never waits on the store
    writer.close()
    assert writer.failures == 1
    spooled = (tmp_path / "unsaved-runs.jsonl").read_text().splitlines()
    assert len(spooled) == 1 and state.idempotency_key in spooled[0]
    # Closed: the next run's write fails in the run itself, and is spooled, not dropped.
    late = run(graph)
    assert late.run_id is None and "closed" in late.store_error
    assert len((tmp_path / "unsaved-runs.jsonl").read_text().splitlines()) == 2
