"""The loop's own critic: a critique prompt that has shown it can judge, else confidence."""

from __future__ import annotations

import pytest

from softloop.agent.graph import FixedPrompts, LoopConfig, LoopState, build_graph
from softloop.agent.graph.nodes import learned_critic
from softloop.prompts import SoftPrompt
from tests.agent.graph.scripted import always


def critique(lm, **metrics: float) -> SoftPrompt:
    prompt = SoftPrompt.from_init(lm, 4, init="vocab", name="critique", kind="critique", seed=4)
    prompt.manifest.metrics.update(metrics)
    return prompt


@pytest.mark.parametrize(
    ("metrics", "name"),
    [
        ({"dev_balanced_acc": 0.54}, "confidence:free@1"),  # at chance: left out, confidence
        ({"critic_balanced_accuracy": 0.75}, "critique@1"),  # the refiner's figure, trusted
        ({}, "critique@1"),  # nothing recorded: the user's prompt is used as given
    ],
)
def test_a_trusted_critique_prompt_judges_alone_and_confidence_stands_in_for_one_that_is_not(
    lm, free_prompts, metrics, name
) -> None:
    critic = learned_critic(lm, free_prompts.task, critique(lm, **metrics), LoopConfig())
    assert critic is not None and critic.name == name


@pytest.mark.parametrize(
    ("critique_auc", "confidence_aucs", "name"),
    [
        (0.43, {"min": 0.80, "mean": 0.86}, "confidence-mean:free@1"),  # ranks worse: left out
        (0.90, {"min": 0.80, "mean": 0.86}, "critique@1"),  # ranks better: judges alone
        (0.43, {}, "critique@1"),  # nothing to compare with: the recorded bar decides
    ],
)
def test_a_critique_prompt_that_ranks_worse_than_confidence_is_left_out(
    lm, free_prompts, critique_auc, confidence_aucs, name
) -> None:
    task = SoftPrompt(free_prompts.task.weight.detach().clone(), free_prompts.task.manifest)
    task.manifest = task.manifest.model_copy(deep=True)
    task.manifest.extra["confidence"] = {"reduce": "mean", "threshold": 0.5, "auc": confidence_aucs}
    judge = critique(lm, critic_balanced_accuracy=0.68, critic_auc=critique_auc)
    critic = learned_critic(lm, task, judge, LoopConfig())
    assert critic is not None and critic.name == name


def test_the_critique_prompt_judges_at_the_threshold_recorded_with_it(lm, free_prompts) -> None:
    strict = critique(lm, critic_threshold=0.999)
    lenient = critique(lm, critic_threshold=0.0)
    config = LoopConfig()
    assert learned_critic(lm, free_prompts.task, strict, config).threshold == 0.999  # type: ignore[union-attr]
    assert learned_critic(lm, free_prompts.task, lenient, config).threshold == 0.0  # type: ignore[union-attr]


def test_a_threshold_fitted_for_the_task_comes_before_the_shared_one(lm, free_prompts) -> None:
    task = free_prompts.task.manifest.name
    judge = critique(lm, critic_threshold=0.3, **{f"critic_threshold:{task}": 0.8})
    other = critique(lm, critic_threshold=0.3, **{"critic_threshold:elsewhere": 0.8})
    config = LoopConfig()
    assert learned_critic(lm, free_prompts.task, judge, config).threshold == 0.8  # type: ignore[union-attr]
    assert learned_critic(lm, free_prompts.task, other, config).threshold == 0.3  # type: ignore[union-attr]


def test_confidence_and_critique_judge_together_where_that_pair_was_fitted_for_the_task(
    lm, free_prompts
) -> None:
    task = free_prompts.task.manifest.name
    joint = {f"joint_weight:{task}": 0.2, f"joint_threshold:{task}": 0.3, f"joint_auc:{task}": 0.8}
    pair = learned_critic(lm, free_prompts.task, critique(lm, **joint), LoopConfig())
    assert pair is not None and pair.name == "confidence:free@1 x critique@1"
    assert pair.threshold == 0.3 and pair.weights == [1.0, 0.2]  # type: ignore[attr-defined]
    # Weight 0 (confidence alone ranked as well), or another task's fit: the rule as before.
    for metrics in ({**joint, f"joint_weight:{task}": 0.0}, {"joint_weight:other": 0.2}):
        judge = critique(lm, dev_balanced_acc=0.54, **metrics)
        assert learned_critic(lm, free_prompts.task, judge, LoopConfig()).name == (
            "confidence:free@1"
        )
    # A trusted critique prompt that ranked the task's mistakes better alone judges alone.
    better = critique(lm, critic_balanced_accuracy=0.8, critic_auc=0.9, **joint)
    assert learned_critic(lm, free_prompts.task, better, LoopConfig()).name == "critique@1"
    # Confidence asked to judge always, or never: the pair is not built.
    never = LoopConfig(confidence="never")
    assert learned_critic(lm, free_prompts.task, critique(lm, **joint), never).name == (
        "critique@1"
    )


def test_confidence_can_judge_always_or_never_and_the_bar_can_move(lm, free_prompts) -> None:
    weak = critique(lm, dev_balanced_acc=0.54)
    for config in (
        LoopConfig(min_critique_balanced_acc=0.5),
        LoopConfig(min_critique_balanced_acc=None),
    ):
        assert learned_critic(lm, free_prompts.task, weak, config).name == "critique@1"
    always_config = LoopConfig(confidence="always", min_critique_balanced_acc=None)
    assert learned_critic(lm, free_prompts.task, weak, always_config).name == (
        "confidence:free@1 + critique@1"
    )
    # Without confidence a weak critique prompt is the only critic there is, so it judges.
    never = LoopConfig(confidence="never")
    assert learned_critic(lm, free_prompts.task, weak, never).name == "critique@1"
    assert learned_critic(lm, free_prompts.task, None, never) is None
    assert LoopConfig().with_confidence(0).confidence == "never"
    assert LoopConfig().with_confidence(0.8).confidence_threshold == 0.8


def test_the_graph_stores_which_critic_judged(lm, free_prompts) -> None:
    prompts = FixedPrompts(
        task=free_prompts.task, critique=critique(lm, dev_balanced_acc=0.54), revise=None
    )
    graph = build_graph(lm, prompts, config=LoopConfig(max_rounds=1, max_new_tokens=4))
    state = LoopState.model_validate(graph.invoke({"task": "t", "input": "12"}))
    assert state.attempts[0].critique.critic == "confidence:free@1"


def gave_up(const_prompts, outputs_and_scores):
    from softloop.agent.graph.state import Attempt
    from softloop.critics import Critique

    selection = const_prompts.select("t")
    attempts = [
        Attempt(
            round=i + 1,
            output=out,
            prompt=selection.task,
            critique=Critique(verdict="fail", score=score, feedback="at 1", critic="c"),
        )
        for i, (out, score) in enumerate(outputs_and_scores)
    ]
    return LoopState(task="t", input="12", selection=selection, attempts=attempts, round=2)


def test_a_revision_both_prompts_find_far_likelier_replaces_the_first_attempt(
    lm, const_prompts
) -> None:
    from softloop.agent.graph.nodes import LoopDeps, _fallback

    # Both the task and the revise prompt answer "7": a revision "7" is far likelier than "12",
    # although the critic scored "12" higher.
    state = gave_up(const_prompts, [("12", 0.9), ("7", 0.1)])
    deps = LoopDeps(lm=lm, source=const_prompts, config=LoopConfig(switch_margin=3.0))
    chosen, why = _fallback(state, deps)
    assert chosen.output == "7" and why.startswith("attempt 2: ") and "nats likelier" in why
    # Not likelier by the margin: the first attempt stands.
    deps = LoopDeps(lm=lm, source=const_prompts, config=LoopConfig(switch_margin=1e6))
    assert _fallback(state, deps) == (state.attempts[0], "attempt 1: no other 1e+06 nats likelier")
    # With a critic passed in, a trusted critique prompt, or no margin, the best-scored attempt.
    trusted = FixedPrompts(
        task=const_prompts.task, critique=critique(lm), revise=const_prompts.revise
    )
    for deps in (
        LoopDeps(lm=lm, source=const_prompts, config=LoopConfig(), critic=always(True)),
        LoopDeps(lm=lm, source=const_prompts, config=LoopConfig(switch_margin=None)),
        LoopDeps(lm=lm, source=trusted, config=LoopConfig(switch_margin=3.0)),
    ):
        state = gave_up(deps.source, [("12", 0.9), ("7", 0.1)])
        assert _fallback(state, deps) == (state.attempts[0], "attempt 1: the critic's best score")


@pytest.mark.parametrize(("auc", "judges_alone"), [(0.95, True), (0.8, False)])
def test_a_critique_prompt_that_checks_the_task_well_judges_its_revisions_alone(
    lm, free_prompts, auc, judges_alone
) -> None:
    from softloop.agent.graph.nodes import LoopDeps

    task = free_prompts.task.manifest.name
    judge = critique(
        lm,
        **{
            f"joint_weight:{task}": 0.2,
            f"joint_threshold:{task}": 0.3,
            f"joint_auc:{task}": 0.97,  # the pair ranks best: it judges first attempts
            f"critic_auc:{task}": auc,
            f"critic_threshold:{task}": 0.45,
        },
    )
    source = FixedPrompts(task=free_prompts.task, critique=judge, revise=free_prompts.revise)
    deps = LoopDeps(lm=lm, source=source, config=LoopConfig())
    state = LoopState(task="t", input="12", selection=source.select("t"))
    first, revisions = deps.critic_for(state), deps.verifier_for(state)
    assert first.name == "confidence:free@1 x critique@1"
    if judges_alone:
        assert revisions.name == "critique@1" and revisions.threshold == 0.45  # type: ignore[attr-defined]
    else:
        assert revisions is first
    off = LoopDeps(lm=lm, source=source, config=LoopConfig(min_verifier_auc=None))
    assert off.verifier_for(state) is off.critic_for(state)


def test_a_revision_the_verifier_likes_less_than_an_earlier_attempt_is_no_fix() -> None:
    from softloop.agent.graph.nodes import _no_better
    from softloop.critics import Critique

    earlier = Critique(verdict="fail", score=0.85, critic="judge")
    weaker = Critique(verdict="pass", score=0.8, critic="judge")
    stronger = Critique(verdict="pass", score=0.9, critic="judge")
    demoted = _no_better(weaker, earlier, 1)
    assert not demoted.passed and demoted.feedback == "no better than attempt 1 (0.80 vs 0.85)"
    assert demoted.score == 0.8  # still ranked among the candidates by its own score
    assert _no_better(stronger, earlier, 1) is stronger
    failing = Critique(verdict="fail", score=0.1, feedback="no 7", critic="judge")
    assert _no_better(failing, earlier, 1) is failing
