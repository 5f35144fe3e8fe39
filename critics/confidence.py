"""A critic that reads the solver's own doubt: how sure was the model of each step of its answer?

It needs no training and no judge: the probability the task prompt gave each token of an answer
often separates a model's mistakes from its right answers, because a model that guessed was
unsure. So this critic scores an answer by its least likely step under the task prompt, the end
of the answer included: one doubtful step makes the whole answer suspect, however sure the
others were. The loop uses it where no trusted critique prompt exists.

Or by the mean of the steps' log-probabilities (`reduce="mean"`, reported as the geometric mean
probability): where a model spreads its doubt over a whole answer rather than one step (many
short answers of an instruct model), the mean ranks mistakes better. Which one ranks a task's
mistakes better is measured, not assumed: `fit_confidence` picks it on labelled answers, with
the threshold, and a task prompt can carry that choice in its manifest (`confidence_choice`).

The feedback names the first doubtful step (`at 3`, `too short`, `too long`); pass `hint` for
the words a task's revise step knows.

Known limitations:
- it cannot catch a mistake the model is sure of; a critique prompt that checks the answer's
  steps can;
- it detects, it cannot verify a fix. Where a greedy answer went wrong, the right token at that
  step had a lower probability than the wrong one the model chose, so at most 0.5: a corrected
  answer never passes a threshold above 0.5 under the same task prompt. So when nothing passes,
  the loop does not pick by this score (`LoopConfig.switch_margin`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from softloop.critics.critique import BatchedCritic, Critique, CritiqueRequest, verdict_of
from softloop.critics.metrics import auc
from softloop.critics.soft_prompt_critic import fit_threshold

if TYPE_CHECKING:
    from softloop.prompts import PromptedLM, SoftPrompt


@dataclass(frozen=True)
class Doubt:
    """The first step of an answer the model was unsure of."""

    offset: int  # character offset of that step in the answer; len(answer) means its end
    token: str  # the answer's text at that step; "" where the step is the end of the answer
    preferred: str  # what the model would have written instead; "" means "end here"
    probability: float  # the model's probability of the answer's step
    input: str = ""  # the request's input and the answer judged, for hints that name a step
    answer: str = ""


# task, doubt -> feedback text for the revise step
DoubtHint = Callable[[str, Doubt], str]


def position_hint(task: str, doubt: Doubt) -> str:
    """`too short` / `too long` / `at K` (1-based character position)."""
    if doubt.token == "":
        return "too short"  # the model expected more where the answer ended
    if doubt.preferred == "":
        return "too long"  # the model would have stopped here
    return f"at {doubt.offset + 1}"


Reduce = Literal["min", "mean"]
REDUCES: tuple[Reduce, ...] = ("min", "mean")
CONFIDENCE_KEY = "confidence"  # a task prompt's manifest extra: {"reduce": ..., "threshold": ...}


def reduce_probs(probs: Sequence[float], reduce: Reduce) -> float:
    """An answer's score from its steps' probabilities: the least, or the geometric mean."""
    if not probs:
        return 0.0  # no step at all: an empty answer from a model without an end token
    if reduce == "min":
        return min(probs)
    return math.exp(sum(math.log(max(p, 1e-300)) for p in probs) / len(probs))


class ConfidenceCritic(BatchedCritic):
    """Judges answers by the task prompt's probability of their least likely token (or, with
    `reduce="mean"`, of their tokens' geometric mean).

    prompt: the task prompt the answers were written under (one critic per task prompt).
    threshold: the score at or above which an answer passes.
    """

    def __init__(
        self,
        lm: PromptedLM,
        prompt: SoftPrompt,
        *,
        threshold: float = 0.6,
        hint: DoubtHint = position_hint,
        name: str | None = None,
        reduce: Reduce = "min",
    ):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if reduce not in REDUCES:
            raise ValueError(f"reduce must be 'min' or 'mean', got {reduce!r}")
        self.lm, self.prompt, self.threshold, self.hint = lm, prompt, threshold, hint
        self.reduce = reduce
        kind = "confidence" if reduce == "min" else f"confidence-{reduce}"
        self.name = name or f"{kind}:{prompt.manifest.name}@{prompt.manifest.version}"

    def scores(self, requests: Sequence[CritiqueRequest]) -> list[float]:
        """Each answer's score under this critic's reduction."""
        return [reduce_probs(probs, self.reduce) for probs, _ in self._read(requests)]

    def step_probabilities(self, requests: Sequence[CritiqueRequest]) -> list[list[float]]:
        """P(each token of the answer, then of its end) under the task prompt, one list per row."""
        return [probs for probs, _ in self._read(requests)]

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        out = []
        for r, (probs, doubt_at) in zip(requests, self._read(requests), strict=True):
            # No step at all: an empty answer from a model without an end-of-text token.
            score = reduce_probs(probs, self.reduce)
            verdict = verdict_of(score, self.threshold)
            feedback = ""
            if not probs:
                feedback = "empty answer"
            elif verdict == "fail":
                # The first doubtful step; under the mean, possibly none is below the bar alone.
                low = [j for j, p in enumerate(probs) if p < self.threshold]
                first = low[0] if low else min(range(len(probs)), key=probs.__getitem__)
                doubt = replace(doubt_at(first), input=r.input, answer=r.answer)
                feedback = self.hint(r.task, doubt)
            out.append(Critique(verdict=verdict, score=score, feedback=feedback, critic=self.name))
        return out

    def _read(
        self, requests: Sequence[CritiqueRequest]
    ) -> list[tuple[list[float], Callable[[int], Doubt]]]:
        """Per row: the step probabilities, and a way to describe step j (decoded on demand)."""
        if not requests:
            return []
        choices = self.lm.token_choices(
            [r.input for r in requests], [r.answer for r in requests], self.prompt
        )
        lm, eos = self.lm, self.lm.eos_id

        def describe(ids: list[int], probs: list[float], tops: list[int]):
            def doubt_at(j: int) -> Doubt:
                return Doubt(
                    offset=len(lm.decode(ids[:j])) if j else 0,
                    token="" if ids[j] == eos else lm.decode([ids[j]]),
                    preferred="" if tops[j] == eos else lm.decode([tops[j]]),
                    probability=probs[j],
                )

            return doubt_at

        rows = []
        for i in range(len(requests)):
            m = choices.mask[i]
            ids = choices.target_ids[i][m].tolist()
            probs = [math.exp(x) for x in choices.logprobs[i][m].tolist()]
            rows.append((probs, describe(ids, probs, choices.top_ids[i][m].tolist())))
        return rows


@dataclass(frozen=True)
class ConfidenceChoice:
    """Which reduction ranks a task's mistakes better, and where to judge with it."""

    reduce: Reduce
    threshold: float
    auc: dict[str, float]  # per reduction: P(a wrong answer scores below a right one)

    def as_extra(self) -> dict[str, object]:
        return {"reduce": self.reduce, "threshold": self.threshold, "auc": dict(self.auc)}


def fit_confidence(
    lm: PromptedLM,
    prompt: SoftPrompt,
    requests: Sequence[CritiqueRequest],
    correct: Sequence[bool],
) -> ConfidenceChoice:
    """The reduction with the higher AUC on labelled answers, at its best threshold.

    Ties (or answers all right or all wrong, where AUC says nothing) keep `min`, the default.
    """
    probs = ConfidenceCritic(lm, prompt).step_probabilities(requests)
    wrong = [not c for c in correct]
    scored = {r: [reduce_probs(p, r) for p in probs] for r in REDUCES}
    aucs: dict[str, float] = {r: auc([-s for s in scored[r]], wrong) for r in REDUCES}
    best: Reduce = "mean" if aucs["mean"] > aucs["min"] else "min"  # NaN compares False
    return ConfidenceChoice(best, fit_threshold(scored[best], list(correct)), aucs)


def confidence_choice(prompt: SoftPrompt) -> tuple[Reduce, float] | None:
    """The reduction and threshold recorded with a task prompt, if any."""
    found = prompt.manifest.extra.get(CONFIDENCE_KEY)
    if not isinstance(found, dict) or found.get("reduce") not in REDUCES:
        return None
    threshold = found.get("threshold")
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        return None
    return found["reduce"], float(threshold)


def confidence_auc(prompt: SoftPrompt) -> float | None:
    """The best AUC the task prompt's own confidence reached on its dev answers, if recorded."""
    found = prompt.manifest.extra.get(CONFIDENCE_KEY)
    aucs = found.get("auc") if isinstance(found, dict) else None
    if not isinstance(aucs, dict):
        return None
    values = [float(v) for v in aucs.values() if isinstance(v, int | float) and v == v]
    return max(values) if values else None
