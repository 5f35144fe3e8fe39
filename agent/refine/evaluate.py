"""Scoring a prompt on an evaluation set, the same way for the active version and a candidate.

Task prompts: exact-match accuracy of greedy answers. Critique prompts: balanced accuracy, the
mean of the share of wrong answers caught and the share of right answers passed. Not F1 at
catching wrong answers: where most answers are wrong, a critic that rejects everything scores a
high F1 without judging anything, and in the loop it turns every right first attempt into a
revision (measured on the reference world: final accuracy fell from 40 % to 22 % after such a
critic was promoted on F1).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from softloop.critics import CriticFormat
from softloop.critics.soft_prompt_critic import pass_probability
from softloop.prompts import Example, PromptedLM, SoftPrompt

EVAL_BATCH = 64  # rows per generate call; big enough to amortise, small enough for memory


def task_accuracy(
    lm: PromptedLM, prompt: SoftPrompt, examples: Sequence[Example], max_new_tokens: int = 32
) -> float:
    if not examples:
        return 0.0
    right = 0
    for i in range(0, len(examples), EVAL_BATCH):
        chunk = examples[i : i + EVAL_BATCH]
        outputs = lm.generate([e.input for e in chunk], prompt, max_new_tokens=max_new_tokens)
        right += sum(o == e.output for o, e in zip(outputs, chunk, strict=True))
    return right / len(examples)


class CriticScores(BaseModel):
    precision: float  # of the answers flagged wrong, the share that were wrong
    recall: float  # of the wrong answers, the share flagged
    f1: float
    accuracy: float
    balanced_accuracy: float  # mean of recall on wrong answers and on right ones
    false_alarm_rate: float  # of the right answers, the share flagged wrong
    n: int


def critic_scores(
    lm: PromptedLM,
    prompt: SoftPrompt,
    examples: Sequence[Example],
    fmt: CriticFormat | None = None,
    threshold: float = 0.5,
) -> CriticScores:
    """Examples are rendered critic inputs whose output starts with the pass or fail text."""
    fmt = fmt or CriticFormat()
    probs: list[float] = []
    for i in range(0, len(examples), EVAL_BATCH):
        chunk = examples[i : i + EVAL_BATCH]
        probs += pass_probability(lm, prompt, [e.input for e in chunk], fmt)
    wrong = [not e.output.startswith(fmt.pass_text) for e in examples]
    return verdict_scores([p < threshold for p in probs], wrong)


def verdict_scores(flagged: Sequence[bool], wrong: Sequence[bool]) -> CriticScores:
    """How well verdicts (`flagged` = judged wrong) catch the answers that are `wrong`."""
    pairs = list(zip(flagged, wrong, strict=True))
    tp = sum(f and w for f, w in pairs)
    fp = sum(f and not w for f, w in pairs)
    fn = sum(w and not f for f, w in pairs)
    tn = len(pairs) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    right_recall = tn / (tn + fp) if tn + fp else 0.0
    return CriticScores(
        precision=precision,
        recall=recall,
        f1=f1,
        accuracy=(tp + tn) / max(len(pairs), 1),
        balanced_accuracy=(recall + right_recall) / 2,
        false_alarm_rate=fp / (tn + fp) if tn + fp else 0.0,
        n=len(pairs),
    )
