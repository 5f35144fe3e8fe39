"""Plain records going into and coming out of the store.

Writers build `RunRecord`s (with their `AttemptRecord`s and `CritiqueRecord`s); readers get
`RunSummary`, `RunDetail` and `StatsReport`. They are pydantic models, detached from any
session, so they cross threads, processes and JSON freely. A `RunRecord` carries its id and
idempotency key from the moment it is built, so writing it twice writes it once.

A record that validates can be stored on both databases: names follow the one naming rule
(`prompts.names`), text holds nothing either database refuses. A critic's name is a label
composed of other names (`confidence:path@3 + critique@2`), so it is shortened to fit its
column rather than refused: a run must never be lost for the length of a label.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from softloop.agent.vocabulary import STORED_RUN_STATUSES, RunStatus, Verdict
from softloop.prompts.names import check_name, check_text

LabelSourceName = Literal["human", "oracle"]
CRITIC_MAX = 64  # critiques.critic is String(64)


def _now() -> datetime:
    return datetime.now(UTC)


class CritiqueRecord(BaseModel):
    """One critic's judgement of one attempt (a `critics.Critique` validates into this)."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    critic: str = Field(max_length=CRITIC_MAX)
    verdict: Verdict
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    feedback: str = ""

    @field_validator("critic", mode="before")
    @classmethod
    def _fit(cls, value: object) -> object:
        if isinstance(value, str) and len(value) > CRITIC_MAX:
            return value[: CRITIC_MAX - 1] + "…"
        return value

    @field_validator("feedback")
    @classmethod
    def _storable(cls, value: str) -> str:
        return check_text(value, "critique's feedback")


class AttemptRecord(BaseModel):
    """One answer within a run; round 1 is the first attempt."""

    model_config = ConfigDict(extra="forbid")

    round: int = Field(ge=1)
    output: str
    prompt_name: str | None = None
    prompt_version: int | None = None
    latency_s: float | None = Field(default=None, ge=0.0)
    oracle_correct: bool | None = None  # the task oracle's truth, where the task has one
    critiques: list[CritiqueRecord] = Field(default_factory=list)

    @field_validator("prompt_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value, "prompt name")

    @field_validator("output")
    @classmethod
    def _storable(cls, value: str) -> str:
        return check_text(value, "attempt's output")


class RunRecord(BaseModel):
    """A finished run, ready to write: `store.record_run(record)`."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    # Made once, when the record is built: a retry of the same record is recognised by it.
    idempotency_key: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=128)
    created_at: datetime = Field(default_factory=_now)
    task: str = Field(max_length=64)
    input: str
    final_output: str | None = None
    status: RunStatus
    rounds: int | None = Field(default=None, ge=0)  # default: the number of attempts
    latency_s: float | None = Field(default=None, ge=0.0)
    prompt_versions: dict[str, int] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    attempts: list[AttemptRecord] = Field(default_factory=list)

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        return check_name(value, "task name")

    @field_validator("input", "final_output")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return None if value is None else check_text(value, "run's input or answer")

    @field_validator("prompt_versions")
    @classmethod
    def _names(cls, value: dict[str, int]) -> dict[str, int]:
        for name in value:
            check_name(name, "prompt name")
        return value

    @field_validator("status")
    @classmethod
    def _finished(cls, value: RunStatus) -> RunStatus:
        if value not in STORED_RUN_STATUSES:
            allowed = ", ".join(STORED_RUN_STATUSES)
            raise ValueError(f"a stored run has finished: status {value!r} is not one of {allowed}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunRecord:
        rounds = [a.round for a in self.attempts]
        if len(set(rounds)) != len(rounds):
            raise ValueError(f"attempt rounds must be unique, got {rounds}; number them 1, 2, ...")
        if self.rounds is None:
            self.rounds = len(self.attempts)
        return self


# The views below are read straight from ORM rows (`View.model_validate(row)`), by field name.
READ_FROM_ROWS = ConfigDict(from_attributes=True)


class CritiqueView(BaseModel):
    model_config = READ_FROM_ROWS

    critic: str
    verdict: Verdict
    score: float | None
    feedback: str


class AttemptView(BaseModel):
    model_config = READ_FROM_ROWS

    round: int
    output: str
    prompt_name: str | None
    prompt_version: int | None
    latency_s: float | None
    oracle_correct: bool | None
    critiques: list[CritiqueView]


class LabelView(BaseModel):
    model_config = READ_FROM_ROWS

    correct: bool
    answer: str | None
    source: LabelSourceName
    author: str | None
    created_at: datetime


class RunSummary(BaseModel):
    """One line of history."""

    model_config = READ_FROM_ROWS

    id: uuid.UUID
    created_at: datetime
    task: str
    input: str
    final_output: str | None
    status: RunStatus
    rounds: int
    latency_s: float | None
    prompt_versions: dict[str, int]


class RunDetail(RunSummary):
    """A run's whole trajectory: attempts in round order, each with its critiques, and labels."""

    idempotency_key: str
    metadata: dict[str, Any]
    attempts: list[AttemptView]
    labels: list[LabelView]


class StatsRow(BaseModel):
    key: str | None  # "path@3", "2026-11-28", or None for the total
    runs: int
    pass_rate: float | None  # share of runs whose final status is passed
    first_attempt_pass_rate: float | None  # share passed on round 1 (no revision needed)
    mean_rounds: float | None


class StatsReport(BaseModel):
    by: Literal["prompt_version", "day"] | None
    total: StatsRow
    rows: list[StatsRow]
