"""The loop's own critic: confidence, then a critique prompt that has shown it can judge."""

from __future__ import annotations

import pytest

from agent.graph import FixedPrompts, LoopConfig, LoopState, build_graph
from agent.graph.nodes import learned_critic
from prompts import SoftPrompt


def critique(lm, **metrics: float) -> SoftPrompt:
    prompt = SoftPrompt.from_init(lm, 4, init="vocab", name="critique", kind="critique", seed=4)
    prompt.manifest.metrics.update(metrics)
    return prompt


@pytest.mark.parametrize(
    ("metrics", "judges"),
    [
        ({"dev_balanced_acc": 0.54}, False),  # bench.train_prompts' figure, at chance: left out
        ({"critic_balanced_accuracy": 0.75}, True),  # the refiner's figure, above the bar
        ({}, True),  # nothing recorded: the user's prompt is used as given
    ],
)
def test_critique_prompt_judges_only_with_a_recorded_balanced_accuracy_above_the_bar(
    lm, free_prompts, metrics, judges
) -> None:
    critic = learned_critic(lm, free_prompts.task, critique(lm, **metrics), LoopConfig())
    assert critic is not None
    assert critic.name.startswith("confidence:free@1")
    assert ("critique@1" in critic.name) == judges


def test_the_bar_can_be_lowered_or_removed_and_confidence_left_out(lm, free_prompts) -> None:
    weak = critique(lm, dev_balanced_acc=0.54)
    for config in (
        LoopConfig(min_critique_balanced_acc=0.5),
        LoopConfig(min_critique_balanced_acc=None),
    ):
        assert "critique@1" in learned_critic(lm, free_prompts.task, weak, config).name
    # Without confidence a weak critique prompt is the only critic there is, so it judges.
    no_confidence = LoopConfig(confidence_threshold=None)
    assert learned_critic(lm, free_prompts.task, weak, no_confidence).name == "critique@1"
    assert learned_critic(lm, free_prompts.task, None, no_confidence) is None


def test_the_graph_stores_which_critic_judged(lm, free_prompts) -> None:
    prompts = FixedPrompts(
        task=free_prompts.task, critique=critique(lm, dev_balanced_acc=0.54), revise=None
    )
    graph = build_graph(lm, prompts, config=LoopConfig(max_rounds=1, max_new_tokens=4))
    state = LoopState.model_validate(graph.invoke({"task": "t", "input": "12"}))
    assert state.attempts[0].critique.critic == "confidence:free@1"
