"""The loop's state: what one request carries from generate through critique and revise.

Nodes return only the keys they change. `attempts` accumulates (each critique appends the
attempt it judged); everything else is overwritten. The round limit lives here, not in
LangGraph's recursion limit, so the exit is part of the data a checkpoint resumes from.

The request is checked here, at the loop's boundary and before any model work, by the rules the
store applies (`prompts.names`): a task name that could not be stored, or text that one of the
databases cannot hold, is refused at once instead of being answered and then never stored.
"""

from __future__ import annotations

import operator
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from softloop.agent.graph.prompt_source import PromptRef, PromptSelection
from softloop.agent.vocabulary import RunStatus
from softloop.critics import Critique
from softloop.prompts.names import check_name, check_text


class Candidate(BaseModel):
    """An answer produced but not yet recorded as an attempt."""

    output: str
    prompt: PromptRef
    model_seconds: float = Field(description="Time spent in model calls producing it.")
    n_candidates: int = Field(default=1, description="How many candidates revise explored.")
    # Revise already scored its candidates with the critic; the critique node reuses that.
    critique: Critique | None = None


class Attempt(BaseModel):
    """One judged answer."""

    round: int
    output: str
    prompt: PromptRef
    critique: Critique
    oracle_correct: bool | None = Field(
        default=None,
        description="The task's exact checker, where it has one; never shown to the loop.",
    )
    model_seconds: float = 0.0
    n_candidates: int = 1


class LoopState(BaseModel):
    """One request through generate → critique → revise."""

    task: str = Field(description="Task name; selects the task prompt and the oracle.")
    input: str = Field(description="The request.")
    max_rounds: int | None = Field(
        default=None, ge=1, description="Attempts allowed, the first included (default: config)."
    )
    metadata: dict = Field(default_factory=dict, description="Stored with the run, untouched.")
    idempotency_key: str | None = Field(
        default=None, description="Makes the store write safe to retry; set at the start."
    )

    selection: PromptSelection | None = None
    round: int = 0
    candidate: Candidate | None = None
    attempts: Annotated[list[Attempt], operator.add] = Field(default_factory=list)
    status: RunStatus = RunStatus.RUNNING
    final_output: str | None = None
    started_at: float | None = Field(default=None, description="Wall-clock start (time.time).")
    latency_s: float | None = None
    final_reason: str | None = Field(
        default=None, description="Why a run that gave up returns the attempt it does."
    )
    choice_seconds: float = Field(
        default=0.0, description="Model time spent choosing the answer when none passed."
    )
    run_id: str | None = Field(default=None, description="The stored run's id, once written.")
    store_error: str | None = Field(
        default=None, description="Why the run could not be stored (the answer still stands)."
    )

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        return check_name(value, "task name")

    @field_validator("input")
    @classmethod
    def _input(cls, value: str) -> str:
        return check_text(value, "input")
