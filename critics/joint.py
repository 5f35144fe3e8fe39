"""The task prompt's confidence and the critique prompt's judgement, weighed together.

The two see different mistakes. Confidence catches an answer the solver guessed; the critique
prompt catches a step it can check that the solver was sure of, and may be at chance on steps
it cannot check. Where each ranks some of a task's mistakes well and neither ranks all of them,
a weighted geometric mean of the two ranks them better than either alone. The weight and the
threshold are fitted per task on labelled answers (`fit_joint`) and recorded with the critique
prompt's version (`JointChoice.as_metrics`), next to the task's other figures; the loop reads
them back with `joint_choice` and judges with `joint_critic`.

A weight is recorded only where the pair beats confidence alone by `MIN_GAIN` AUC on the
labelled answers: on tasks where the critique prompt adds nothing, confidence judges alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from softloop.critics.compose import WeightedScore, weighted_mean
from softloop.critics.confidence import ConfidenceCritic
from softloop.critics.metrics import auc
from softloop.critics.soft_prompt_critic import SoftPromptCritic, fit_threshold

if TYPE_CHECKING:
    from softloop.prompts import SoftPrompt

# The critique prompt's weight against confidence's 1, tried in turn.
JOINT_WEIGHTS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
MIN_GAIN = 0.01  # AUC over confidence alone that a weight must bring to be recorded


@dataclass(frozen=True)
class JointChoice:
    """How much the critique prompt weighs against confidence on one task, and where to judge."""

    weight: float  # 0: confidence alone ranked that task's answers as well
    threshold: float  # on the joint score
    auc: float  # the joint score's AUC on the answers it was fitted on
    confidence_auc: float  # confidence alone on the same answers

    def as_metrics(self, task: str) -> dict[str, float]:
        return {
            f"joint_weight:{task}": self.weight,
            f"joint_threshold:{task}": self.threshold,
            f"joint_auc:{task}": self.auc,
        }


def _joint_scores(conf: Sequence[float], judged: Sequence[float], weight: float) -> list[float]:
    """What `joint_critic` scores each answer: fitted and judged by the same mean."""
    return [
        weighted_mean([c, j], [1.0, weight], "geometric") for c, j in zip(conf, judged, strict=True)
    ]


def fit_joint(
    confidence: Sequence[float], judged: Sequence[float], correct: Sequence[bool]
) -> JointChoice:
    """The weight (from `JOINT_WEIGHTS`) whose joint score ranks the wrong answers best, and its
    threshold; weight 0 where none beats confidence alone by `MIN_GAIN`.

    confidence: the task prompt's confidence in each labelled answer (`ConfidenceCritic.scores`);
    judged: the critique prompt's pass probability of each (`SoftPromptCritic` scores).
    """
    wrong = [not c for c in correct]
    base = auc([-s for s in confidence], wrong)
    best = JointChoice(0.0, fit_threshold(list(confidence), list(correct)), base, base)
    if base != base:  # all right or all wrong: nothing to fit
        return best
    for weight in JOINT_WEIGHTS:
        scores = _joint_scores(confidence, judged, weight)
        found = auc([-s for s in scores], wrong)
        if found >= base + MIN_GAIN and found > best.auc:
            best = JointChoice(weight, fit_threshold(scores, list(correct)), found, base)
    return best


def joint_choice(critique: SoftPrompt, task: str) -> JointChoice | None:
    """The joint weight recorded with a critique prompt's version for `task`, if any."""
    metrics = critique.manifest.metrics
    keys = (f"joint_weight:{task}", f"joint_threshold:{task}", f"joint_auc:{task}")
    if not all(k in metrics for k in keys):
        return None
    weight, threshold, found = (float(metrics[k]) for k in keys)
    if not (weight >= 0 and 0.0 <= threshold <= 1.0):
        return None
    return JointChoice(weight, threshold, found, float("nan"))


def joint_critic(
    confidence: ConfidenceCritic, critique: SoftPromptCritic, choice: JointChoice
) -> WeightedScore:
    """The two critics as one, at the recorded weight and threshold.

    Where confidence doubts the answer, its doubt is the feedback; where only the critique
    prompt does, its weakest step is.
    """
    return WeightedScore(
        [confidence, critique],
        weights=[1.0, choice.weight],
        threshold=choice.threshold,
        name=f"{confidence.name} x {critique.name}",
        mean="geometric",
    )
