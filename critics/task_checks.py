"""A task's own exact check, named on the command line or given through the API.

Three kinds, each written down as text so that it can be stored with the task and rebuilt in
another process:

- `python`: `module:function`, a function `(input, answer) -> bool | (bool, feedback)`;
- `regex`: the whole answer must match the pattern (`re.fullmatch`);
- `schema`: the answer must be JSON valid under a JSON Schema (the schema itself is stored, not
  the file it came from, so the check does not change when the file does).

A check is certain where it applies, so it serves twice: as a critic that runs before the
learned one in the loop, and as the oracle whose verdicts the store keeps and the refiner
learns from. `ByTask` runs each request's own task's check, for a loop serving many tasks.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from softloop.critics.checks import CheckResult
from softloop.critics.critique import BatchedCritic, Critique, CritiqueRequest, Verdict
from softloop.prompts.errors import ConfigError

CheckKind = Literal["python", "regex", "schema"]
CHECK_KINDS: tuple[CheckKind, ...] = ("python", "regex", "schema")
# (input, answer) -> right, or (right, what is wrong)
AnswerCheck = Callable[[str, str], CheckResult]


def load_check(kind: str, spec: str) -> AnswerCheck:
    """The check a stored `(kind, spec)` describes; a ConfigError says what is wrong with it."""
    if kind == "python":
        return python_check(spec)
    if kind == "regex":
        return regex_check(spec)
    if kind == "schema":
        return schema_check(spec)
    raise ConfigError(f"check kind {kind!r} is unknown; use one of {', '.join(CHECK_KINDS)}")


def python_check(spec: str) -> AnswerCheck:
    """`module:function`, imported now so that a typo fails at once, not at the first answer."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"check {spec!r} is not module:function; e.g. mytasks:check_sum")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module: any error while importing it is theirs
        raise ConfigError(
            f"cannot import {module_name!r} for the check {spec!r} ({type(err).__name__}: "
            f"{err}); put it on PYTHONPATH"
        ) from err
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise ConfigError(f"{spec!r} is not a function of {module_name!r}")
    return fn


def regex_check(pattern: str) -> AnswerCheck:
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ConfigError(f"the check's regex {pattern!r} is invalid ({err})") from err

    def check(input: str, answer: str) -> CheckResult:
        ok = compiled.fullmatch(answer.strip()) is not None
        return ok if ok else (False, f"answer must match {pattern}")

    return check


def schema_check(schema_text: str) -> AnswerCheck:
    """A JSON Schema (its text), checked against the answer parsed as JSON."""
    import jsonschema

    try:
        schema = json.loads(schema_text)
    except ValueError as err:
        raise ConfigError(f"the check's JSON schema is not JSON ({err})") from err
    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as err:
        raise ConfigError(f"the check's JSON schema is invalid ({err.message})") from err
    validator = validator_cls(schema)

    def check(input: str, answer: str) -> CheckResult:
        try:
            value = json.loads(answer)
        except ValueError as err:
            return False, f"not valid JSON: {err}"
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is None:
            return True
        where = ".".join(str(p) for p in error.absolute_path) or "(root)"
        return False, f"{where}: {error.message}"

    return check


def verdict(check: AnswerCheck, input: str, answer: str) -> tuple[bool, str]:
    """A check's result as (right, feedback); a check that raises judges the answer wrong."""
    try:
        result = check(input, answer)
    except Exception as err:  # the user's function on a model's answer: its error is a "no"
        return False, f"check raised {type(err).__name__}"
    ok, feedback = result if isinstance(result, tuple) else (bool(result), "")
    return bool(ok), "" if ok else (feedback or "wrong answer")


class ByTask(BatchedCritic):
    """Each request judged by its own task's check; tasks without one pass (score 1).

    Put it first in the loop's critics (`checks=`): a request it passes goes on to the learned
    critic, and a passing score of 1 leaves that critic's score as the one that counts.
    """

    def __init__(self, checks: Mapping[str, AnswerCheck], name: str = "check"):
        self.checks, self.name = checks, name  # not copied: a lazy mapping loads on use

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        out = []
        for r in requests:
            check = self.checks.get(r.task)
            if check is None:
                out.append(Critique(verdict=Verdict.PASS, score=1.0, critic=self.name))
                continue
            ok, feedback = verdict(check, r.input, r.answer)
            out.append(
                Critique(
                    verdict=Verdict.PASS if ok else Verdict.FAIL,
                    score=1.0 if ok else 0.0,
                    feedback=feedback,
                    critic=f"{self.name}:{r.task}",
                )
            )
        return out


def as_oracle(checks: Mapping[str, AnswerCheck]) -> Callable[[str, str, str], bool | None]:
    """`(task, input, answer) -> right?` for the store and the refiner; None without a check."""

    def oracle(task: str, input: str, answer: str) -> bool | None:
        check = checks.get(task)
        return None if check is None else verdict(check, input, answer)[0]

    return oracle


__all__ = [
    "CHECK_KINDS",
    "AnswerCheck",
    "ByTask",
    "CheckKind",
    "as_oracle",
    "load_check",
    "python_check",
    "regex_check",
    "schema_check",
    "verdict",
]
