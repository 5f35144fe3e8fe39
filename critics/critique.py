"""What every critic returns, and the protocol every critic follows.

A critique is a verdict plus a score: the verdict routes the loop (pass → finish, fail → revise),
the score ranks candidate revisions against each other, and the feedback text is what the revise
step is conditioned on. Keeping all three in one small record lets programmatic checks and a
learned critic be composed and stored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class Critique(BaseModel):
    """One critic's judgement of one answer."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    score: float = Field(ge=0.0, le=1.0, description="Confidence that the answer is right.")
    feedback: str = Field(default="", description="What is wrong, for the revise step.")
    critic: str = Field(description="Name of the critic that produced this critique.")

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS


class CritiqueRequest(BaseModel):
    """One answer to judge: the task it belongs to, the request's input, the proposed answer."""

    model_config = ConfigDict(frozen=True)

    task: str
    input: str
    answer: str


@runtime_checkable
class Critic(Protocol):
    """Anything that judges answers. Implement `critique_batch`; `critique` is one-row sugar."""

    name: str

    def critique(self, task: str, input: str, answer: str) -> Critique: ...

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]: ...


class BatchedCritic:
    """Mixin: a critic written as `critique_batch` gets `critique` for free."""

    name: str = "critic"

    def critique(self, task: str, input: str, answer: str) -> Critique:
        return self.critique_batch([CritiqueRequest(task=task, input=input, answer=answer)])[0]

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        raise NotImplementedError


def verdict_of(score: float, threshold: float) -> Verdict:
    """Pass at or above the threshold: one rule for every scoring critic."""
    return Verdict.PASS if score >= threshold else Verdict.FAIL
