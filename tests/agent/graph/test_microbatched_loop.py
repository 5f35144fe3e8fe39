"""Concurrent loop runs sharing forward passes answer as runs one at a time."""

from __future__ import annotations

import pytest

from softloop.agent.graph import FixedPrompts, LoopConfig, build_graph
from softloop.prompts import FrozenLM, SoftPrompt
from softloop.prompts.microbatch import MicroBatchLM
from softloop.prompts.prefix_cache import PrefixCacheConfig
from tests.agent.graph.scripted import INPUTS

# Revisions with seeded samples and fresh samples: every kind of model call the loop makes.
CONFIG = LoopConfig(max_rounds=3, max_new_tokens=6, revise_samples=2, resolve_samples=1)


@pytest.mark.parametrize(
    ("with_critique", "cached"),
    [(False, False), (True, False), (True, True)],
    ids=["confidence", "critique", "critique-on-prefix-caches"],
)
def test_a_micro_batched_loop_gives_the_answers_of_runs_one_at_a_time(
    lm, free_prompts, with_critique: bool, cached: bool
) -> None:
    if cached:  # every call on the prompts' prefix caches, however little they save
        lm = FrozenLM(lm.model, lm.tokenizer, prefix_config=PrefixCacheConfig(min_saved_work=0))
    prompts = free_prompts
    if with_critique:
        critique = SoftPrompt.from_init(lm, 4, "vocab", name="judge", kind="critique", seed=9)
        prompts = FixedPrompts(
            task=free_prompts.task, critique=critique, revise=free_prompts.revise
        )
    requests = [{"task": "t", "input": x} for x in INPUTS]
    one_by_one = build_graph(lm, prompts, config=CONFIG)
    alone = [one_by_one.invoke(r) for r in requests]
    with MicroBatchLM(lm) as shared:
        together = build_graph(shared, prompts, config=CONFIG).batch(
            requests, config={"max_concurrency": len(requests)}
        )
    assert [s["final_output"] for s in together] == [s["final_output"] for s in alone]
    assert [[a.output for a in s["attempts"]] for s in together] == [
        [a.output for a in s["attempts"]] for s in alone
    ]
    assert any(len(s["attempts"]) > 1 for s in alone), "some runs should revise"
