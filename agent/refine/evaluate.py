"""Scoring a prompt on an evaluation set, the same way for the active version and a candidate.

Task prompts: exact-match accuracy of greedy answers. Critique prompts: F1 at catching wrong
answers (a wrong answer is the positive class: missing one is what lets a mistake through).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from critics import CriticFormat
from critics.soft_prompt_critic import pass_probability
from prompts import Example, FrozenLM, SoftPrompt

EVAL_BATCH = 64  # rows per generate call; big enough to amortise, small enough for memory


def task_accuracy(
    lm: FrozenLM, prompt: SoftPrompt, examples: Sequence[Example], max_new_tokens: int = 32
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
    precision: float
    recall: float
    f1: float
    accuracy: float
    n: int


def critic_scores(
    lm: FrozenLM,
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
    flagged = [p < threshold for p in probs]
    tp = sum(w and f for w, f in zip(wrong, flagged, strict=True))
    fp = sum(f and not w for w, f in zip(wrong, flagged, strict=True))
    fn = sum(w and not f for w, f in zip(wrong, flagged, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum(w == f for w, f in zip(wrong, flagged, strict=True)) / max(len(examples), 1)
    return CriticScores(
        precision=precision, recall=recall, f1=f1, accuracy=accuracy, n=len(examples)
    )
