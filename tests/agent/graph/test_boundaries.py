"""What enters the loop and what leaves it for the store (issue 16, defects 3 and 6).

A run that has answered is never lost to bookkeeping: a task name long enough to push the
critic's name past its column once killed the run in `finish` with nothing stored or spooled.
And a request a database cannot hold (a NUL byte) is refused at the loop's boundary, the same
way on SQLite and PostgreSQL, before any model work.
"""

from __future__ import annotations

import json

import pydantic
import pytest

from softloop.agent.graph import FixedPrompts, LoopConfig, LoopState, build_graph
from softloop.agent.store import RunRecord, Store
from softloop.prompts import SoftloopError, SoftPrompt

FAST = LoopConfig(max_new_tokens=4, revise_samples=1, resolve_samples=0, max_rounds=2)
LONG = "t" * 60  # a valid name; "confidence:" + it + "@1" is longer than the critic column
# The task prompt's confidence judges first, so the critic's name carries the task's name.
CONFIDENT = FAST.model_copy(update={"confidence": "always"})


def test_a_long_task_name_still_stores_the_run(lm, store: Store) -> None:
    task = SoftPrompt.from_init(lm, 4, init="vocab", name=LONG, seed=2)
    critique = SoftPrompt.from_init(lm, 4, init="vocab", name="critique", kind="critique", seed=5)
    prompts = FixedPrompts(task={LONG: task}, critique=critique)
    graph = build_graph(lm, prompts, store=store, config=CONFIDENT)
    state = LoopState.model_validate(graph.invoke({"task": LONG, "input": "12"}))
    assert state.final_output is not None
    assert state.store_error is None and state.run_id is not None
    stored = store.get_run(state.run_id)
    critic = stored.attempts[0].critiques[0].critic
    assert len(critic) == 64 and critic.startswith("confidence:ttt") and critic.endswith("…")


def test_a_run_whose_record_cannot_be_built_is_spooled_not_lost(
    lm, free_prompts, store: Store, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import softloop.agent.graph.recording as recording
    from tests.agent.graph.scripted import always

    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path))

    def broken(state: LoopState) -> RunRecord:
        raise ValueError("a record that cannot be built")

    monkeypatch.setattr(recording, "to_record", broken)
    graph = build_graph(lm, free_prompts, critic=always(True), store=store, config=FAST)
    state = LoopState.model_validate(graph.invoke({"task": "t", "input": "12"}))
    assert state.final_output is not None and state.run_id is None
    assert "cannot be built" in state.store_error
    [line] = (tmp_path / "unsaved-runs.jsonl").read_text().splitlines()
    assert json.loads(line)["state"]["idempotency_key"] == state.idempotency_key


def test_a_nul_byte_is_refused_before_any_model_work(
    lm, free_prompts, store: Store, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.agent.graph.scripted import always

    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path))

    calls = []
    monkeypatch.setattr(lm, "generate", lambda *a, **k: calls.append(a) or ["x"])
    graph = build_graph(lm, free_prompts, critic=always(True), store=store, config=FAST)
    with pytest.raises(pydantic.ValidationError, match="NUL"):
        graph.invoke({"task": "t", "input": "ab\x00cd"})
    with pytest.raises(pydantic.ValidationError, match="task name"):
        graph.invoke({"task": "../etc", "input": "ab"})
    assert calls == [] and store.list_runs() == []


def test_the_store_applies_one_rule_on_both_databases(store: Store, make_run) -> None:
    with pytest.raises(pydantic.ValidationError, match="NUL"):
        make_run(input="a\x00b")
    with pytest.raises(pydantic.ValidationError, match="not allowed"):
        make_run(task="Not/A/Name")
    run_id = store.record_run(make_run())
    with pytest.raises(SoftloopError, match="NUL"):
        store.add_label(run_id, False, answer="x\x00y")
    assert store.get_run(run_id).labels == []
