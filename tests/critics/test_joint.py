"""Confidence and the critique prompt weighed together: fitted per task, used by the loop."""

import pytest

from softloop.critics import JointChoice, fit_joint, joint_choice
from softloop.critics.joint import JOINT_WEIGHTS, MIN_GAIN
from softloop.prompts import SoftPrompt
from tests.prompts.models import make_lm


def test_a_judge_that_sees_other_mistakes_earns_a_weight_and_ranks_better_than_either() -> None:
    # Confidence catches the first two mistakes, the judge the last two; neither alone ranks all.
    correct = [True] * 6 + [False] * 4
    confidence = [0.9, 0.8, 0.85, 0.7, 0.95, 0.75, 0.2, 0.3, 0.9, 0.8]
    judged = [0.9, 0.95, 0.8, 0.85, 0.9, 0.9, 0.8, 0.9, 0.1, 0.2]
    choice = fit_joint(confidence, judged, correct)
    assert choice.weight in JOINT_WEIGHTS
    assert choice.auc >= choice.confidence_auc + MIN_GAIN and choice.auc == pytest.approx(1.0)
    flagged = [
        (c * j**choice.weight) ** (1 / (1 + choice.weight)) < choice.threshold
        for c, j in zip(confidence, judged, strict=True)
    ]
    assert flagged == [not c for c in correct]


def test_a_judge_that_adds_nothing_gets_no_weight() -> None:
    correct = [True, True, True, False, False]
    confidence = [0.9, 0.8, 0.7, 0.2, 0.1]  # ranks every mistake already
    judged = [0.1, 0.9, 0.5, 0.9, 0.5]  # noise
    choice = fit_joint(confidence, judged, correct)
    assert choice.weight == 0.0 and choice.auc == choice.confidence_auc == 1.0
    nothing = fit_joint([0.9, 0.8], [0.1, 0.2], [True, True])  # no mistake to rank
    assert nothing.weight == 0.0


def test_the_recorded_choice_reads_back_per_task_and_refuses_nonsense() -> None:
    lm = make_lm("llama", seed=5)
    prompt = SoftPrompt.from_init(lm, 2, init="vocab", name="critique", kind="critique", seed=1)
    prompt.manifest.metrics.update(JointChoice(0.2, 0.4, 0.9, 0.8).as_metrics("sum"))
    found = joint_choice(prompt, "sum")
    assert found is not None and (found.weight, found.threshold, found.auc) == (0.2, 0.4, 0.9)
    assert joint_choice(prompt, "path") is None
    prompt.manifest.metrics["joint_threshold:sum"] = 7.0
    assert joint_choice(prompt, "sum") is None
