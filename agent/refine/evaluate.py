"""Scoring a prompt on an evaluation set, the same way for the active version and a candidate.

Task prompts: accuracy of greedy answers, by the task's checker where it has one (many answers
may be right), else exact match. Critique prompts: balanced accuracy, the mean of the share of
wrong answers caught and the share of right answers passed, at the threshold recorded with the
version. Not F1 at catching wrong answers: where most answers are wrong, a critic that rejects
everything scores a high F1 without judging anything, and in the loop it turns every right
first attempt into a revision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from softloop.critics import CriticFormat
from softloop.critics.metrics import auc
from softloop.critics.soft_prompt_critic import step_logprobs
from softloop.prompts import Example, PromptedLM, SoftPrompt

EVAL_BATCH = 64  # rows per generate call; big enough to amortise, small enough for memory


def task_accuracy(
    lm: PromptedLM,
    prompt: SoftPrompt,
    examples: Sequence[Example],
    max_new_tokens: int = 32,
    check: Callable[[str, str], bool | None] | None = None,
) -> float:
    """Share of greedy answers that are right: `check(input, answer)` where the task has an
    oracle (many answers may be right), else (or where it answers None) equal to the
    example's output."""
    if not examples:
        return 0.0
    right = 0
    for i in range(0, len(examples), EVAL_BATCH):
        chunk = examples[i : i + EVAL_BATCH]
        outputs = lm.generate([e.input for e in chunk], prompt, max_new_tokens=max_new_tokens)
        for o, e in zip(outputs, chunk, strict=True):
            verdict = check(e.input, o) if check is not None else None
            right += (o == e.output) if verdict is None else bool(verdict)
    return right / len(examples)


class CriticScores(BaseModel):
    precision: float  # of the answers flagged wrong, the share that were wrong
    recall: float  # of the wrong answers, the share flagged
    f1: float
    accuracy: float
    balanced_accuracy: float  # mean of recall on wrong answers and on right ones
    false_alarm_rate: float  # of the right answers, the share flagged wrong
    n: int
    auc: float = math.nan  # P(a wrong answer scores below a right one); threshold-free


def example_pass_probabilities(
    lm: PromptedLM, prompt: SoftPrompt, examples: Sequence[Example], fmt: CriticFormat
) -> list[float]:
    """The critic's pass probability for rows whose output is a target check trace."""
    traces = [fmt.passing_of(e.output) for e in examples]
    marks = step_logprobs(lm, prompt, [e.input for e in examples], traces, fmt)
    return [math.exp(sum(m)) for m in marks]


def critic_scores(
    lm: PromptedLM,
    prompt: SoftPrompt,
    examples: Sequence[Example],
    fmt: CriticFormat | None = None,
    threshold: float = 0.5,
) -> CriticScores:
    """Examples are rendered critic inputs whose output is the target trace (`fmt.target`)."""
    fmt = fmt or CriticFormat()
    probs = example_pass_probabilities(lm, prompt, examples, fmt)
    wrong = [not fmt.is_pass(e.output) for e in examples]
    scores = verdict_scores([p < threshold for p in probs], wrong)
    return scores.model_copy(update={"auc": auc([-p for p in probs], wrong)})


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
