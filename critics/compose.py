"""Combining critics: all-must-pass, or a weighted score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from softloop.critics.critique import (
    BatchedCritic,
    Critic,
    Critique,
    CritiqueRequest,
    Verdict,
    verdict_of,
)


class AllOf(BatchedCritic):
    """Every critic must pass; the first failure's feedback is the one handed on.

    Critics run in order and a row that has failed is not shown to later critics, so put cheap
    exact checks first and the learned critic last. The score of a passing row is the lowest
    score any critic gave it, so candidates stay comparable.
    """

    def __init__(self, critics: Sequence[Critic], name: str = "all-of"):
        if not critics:
            raise ValueError("AllOf needs at least one critic")
        self.critics, self.name = list(critics), name

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        results: list[Critique | None] = [None] * len(requests)
        min_score = [1.0] * len(requests)
        pending = list(range(len(requests)))
        for critic in self.critics:
            if not pending:
                break
            verdicts = critic.critique_batch([requests[i] for i in pending])
            still = []
            for i, c in zip(pending, verdicts, strict=True):
                min_score[i] = min(min_score[i], c.score)
                if c.passed:
                    still.append(i)
                else:
                    results[i] = c
            pending = still
        for i in pending:
            results[i] = Critique(verdict=Verdict.PASS, score=min_score[i], critic=self.name)
        return [r for r in results if r is not None]


def weighted_mean(
    scores: Sequence[float], weights: Sequence[float], mean: Literal["arithmetic", "geometric"]
) -> float:
    """The weighted arithmetic or geometric mean of scores in [0, 1] (a zero counts as 1e-300
    in the geometric one)."""
    total = sum(weights)
    if mean == "geometric":
        logs = [w * math.log(max(s, 1e-300)) for w, s in zip(weights, scores, strict=True)]
        return math.exp(sum(logs) / total)
    return sum(w * s for w, s in zip(weights, scores, strict=True)) / total


class WeightedScore(BatchedCritic):
    """A weighted mean of the critics' scores, passing at `threshold`.

    `mean="geometric"` weighs the scores' logarithms instead: for probabilities that multiply
    (a task prompt's confidence in an answer, a judge's belief that every step holds), where
    one critic's near-zero score should sink the answer whatever the other says.

    A failing answer's feedback is taken from the failing critic with the largest weight,
    because that is the opinion that moved the score most; a passing answer has none.
    """

    def __init__(
        self,
        critics: Sequence[Critic],
        weights: Sequence[float] | None = None,
        threshold: float = 0.5,
        name: str = "weighted",
        mean: Literal["arithmetic", "geometric"] = "arithmetic",
    ):
        weights = list(weights) if weights is not None else [1.0] * len(critics)
        if not critics or len(weights) != len(critics):
            raise ValueError(
                f"WeightedScore needs one weight per critic, got {len(weights)} weights "
                f"for {len(critics)} critics"
            )
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"WeightedScore weights must be >= 0 with a positive sum: {weights}")
        if mean not in ("arithmetic", "geometric"):
            raise ValueError(
                f"WeightedScore mean must be 'arithmetic' or 'geometric', got {mean!r}"
            )
        self.mean = mean
        self.critics, self.weights, self.threshold, self.name = (
            list(critics),
            weights,
            threshold,
            name,
        )

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        per_critic = [c.critique_batch(requests) for c in self.critics]
        out = []
        for row in zip(*per_critic, strict=True):
            score = weighted_mean([c.score for c in row], self.weights, self.mean)
            verdict = verdict_of(score, self.threshold)
            failing = [(w, c) for w, c in zip(self.weights, row, strict=True) if not c.passed]
            feedback = ""
            if failing and verdict == "fail":
                feedback = max(failing, key=lambda wc: wc[0])[1].feedback
            out.append(
                Critique(
                    verdict=verdict,
                    score=score,
                    feedback=feedback,
                    critic=self.name,
                )
            )
        return out
