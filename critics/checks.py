"""Programmatic critics: exact checks that need no model.

They are cheap and certain where they apply (a format, a schema, an oracle), so they usually
run before the learned critic: `AllOf([SchemaCritic(...), soft_prompt_critic])` stops at the
first failure and hands its precise feedback to the revise step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ValidationError

from softloop.critics.critique import BatchedCritic, Critique, CritiqueRequest, Verdict

# A check returns True (right), False (wrong), or (ok, feedback) to explain a failure.
CheckResult = bool | tuple[bool, str]
Check = Callable[[str, str, str], CheckResult]


def _from_result(result: CheckResult, name: str, default_feedback: str) -> Critique:
    ok, feedback = result if isinstance(result, tuple) else (bool(result), "")
    if ok:
        return Critique(verdict=Verdict.PASS, score=1.0, feedback="", critic=name)
    return Critique(
        verdict=Verdict.FAIL, score=0.0, feedback=feedback or default_feedback, critic=name
    )


class PredicateCritic(BatchedCritic):
    """Wraps `check(task, input, answer) -> bool | (bool, feedback)`."""

    def __init__(self, check: Check, name: str = "predicate", feedback: str = "check failed"):
        self.check, self.name, self.feedback = check, name, feedback

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        return [
            _from_result(self.check(r.task, r.input, r.answer), self.name, self.feedback)
            for r in requests
        ]


class RegexCritic(BatchedCritic):
    """The whole answer must match `pattern` (re.fullmatch)."""

    def __init__(self, pattern: str, name: str = "regex", feedback: str | None = None):
        try:
            self.pattern = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"invalid regex {pattern!r} for RegexCritic: {err}") from err
        self.name = name
        self.feedback = feedback or f"answer must match {pattern}"

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        return [
            _from_result(self.pattern.fullmatch(r.answer) is not None, self.name, self.feedback)
            for r in requests
        ]


class SchemaCritic(BatchedCritic):
    """The answer must be JSON that validates against a pydantic model."""

    def __init__(self, schema: type[BaseModel], name: str = "schema"):
        self.schema, self.name = schema, name

    def _check(self, answer: str) -> CheckResult:
        try:
            self.schema.model_validate(json.loads(answer))
        except json.JSONDecodeError as err:
            return False, f"not valid JSON: {err.msg} at char {err.pos}"
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(root)"
            return False, f"{where}: {first['msg']}"
        return True

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        return [_from_result(self._check(r.answer), self.name, "invalid") for r in requests]


class OracleCritic(BatchedCritic):
    """An exact checker for tasks that have one, e.g. the reference world's tasks.

    `checkers` maps task name → `check(input, answer) -> bool`; `hints` optionally maps task
    name → `hint(input, answer) -> str` for the feedback. A task without a checker is an error,
    not a silent pass.
    """

    def __init__(
        self,
        checkers: dict[str, Callable[[str, str], bool]],
        hints: dict[str, Callable[[str, str], str]] | None = None,
        name: str = "oracle",
    ):
        self.checkers, self.hints, self.name = checkers, hints or {}, name

    def _check(self, r: CritiqueRequest) -> CheckResult:
        check = self.checkers.get(r.task)
        if check is None:
            known = ", ".join(sorted(self.checkers)) or "none"
            raise ValueError(f"OracleCritic has no checker for task {r.task!r} (known: {known})")
        if check(r.input, r.answer):
            return True
        hint = self.hints.get(r.task)
        return False, hint(r.input, r.answer) if hint else "wrong answer"

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        return [_from_result(self._check(r), self.name, "wrong answer") for r in requests]
