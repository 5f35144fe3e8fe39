"""A user's own tasks: what the loop needs to know about each beyond its prompts.

`softloop task add` trains a task's prompt and critique prompt and registers both like any
prompt version; what else a task brings is kept here, one folder per task under
`$SOFTLOOP_HOME/tasks/<name>/`:

- `task.json`: its check (kind and text, see `critics.task_checks`), the words the critique
  prompt reads it by (its label), its instruction, whether its prompts use the chat template,
  the name of its critique prompt, and the model it was made for (fingerprint);
- `dev.jsonl`: the held-out examples its prompt was measured on, which the refiner measures
  candidates on too;
- `critique-dev.jsonl`: the model's own answers on those inputs, labelled, as the critique
  prompt reads them: the fixed set its candidates are measured on.

So a task outlives the process that added it: every later `softloop run --task NAME`, server
and refiner on this data directory finds its check and label. A name becomes a folder only
after passing the naming rule and only under the tasks folder. Each folder is written whole
into a temporary sibling and renamed into place, so a reader never sees half a task.

Known limitation: tasks live in the data directory, not the database: processes that share a
PostgreSQL store but not a data directory see the prompts but not the checks.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from softloop.critics.task_checks import AnswerCheck, load_check
from softloop.prompts.data import Example, read_jsonl
from softloop.prompts.errors import SoftloopError
from softloop.prompts.files import atomic_directory
from softloop.prompts.names import NAME_MAX, check_name

log = logging.getLogger("softloop.tasks")

SPEC = "task.json"
DEV = "dev.jsonl"
CRITIQUE_DEV = "critique-dev.jsonl"
CRITIQUE_SUFFIX = "-critique"
TASK_NAME_MAX = NAME_MAX - len(CRITIQUE_SUFFIX)  # room for its critique prompt's name


class TaskError(SoftloopError):
    """A task is unknown, or its stored description cannot be read."""


class TaskCheckSpec(BaseModel):
    """An exact check as text: `python` `module:function`, a `regex`, or a JSON `schema`.

    path: for `python`, a folder to import the module from (the one it was found in when the
    task was added), so that a later run from another directory finds it too.
    """

    kind: Literal["python", "regex", "schema"]
    spec: str
    path: str | None = None

    def load(self) -> AnswerCheck:
        if self.kind == "python" and self.path and self.path not in sys.path:
            sys.path.insert(0, self.path)
        return load_check(self.kind, self.spec)


class TaskSpec(BaseModel):
    """One task's description (see the module docstring)."""

    name: str
    label: str  # how the critique prompt is told which task an answer is for
    instruction: str | None = None
    chat: bool = False
    check: TaskCheckSpec | None = None
    critique: str | None = None  # its critique prompt's name
    base_fingerprint: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_task_name(name)

    @field_validator("critique")
    @classmethod
    def _critique(cls, name: str | None) -> str | None:
        return None if name is None else check_name(name, "critique prompt name")


def check_task_name(name: object) -> str:
    """The naming rule, with room left for the task's critique prompt's name."""
    checked = check_name(name, "task name")
    if len(checked) > TASK_NAME_MAX:
        raise TaskError(
            f"the task name {checked[:20]!r}… is {len(checked)} characters long; use at most "
            f"{TASK_NAME_MAX} (its critique prompt is named {CRITIQUE_SUFFIX!r} after it)"
        )
    return checked


def critique_name(task: str) -> str:
    return check_task_name(task) + CRITIQUE_SUFFIX


class TaskRegistry:
    """The tasks under one folder (default `$SOFTLOOP_HOME/tasks`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, name: str) -> Path:
        """`<root>/<name>`, for a name that follows the rule; never anywhere else."""
        check_task_name(name)
        root = self.root.resolve()
        path = (root / name).resolve()
        if path.parent != root:
            raise TaskError(f"task name {name!r} leads outside the tasks folder {root}")
        return path

    def save(
        self,
        spec: TaskSpec,
        dev: Sequence[Example] = (),
        critique_dev: Sequence[Example] = (),
    ) -> Path:
        """Write the task whole (replacing an earlier one of the same name)."""
        path = self.folder(spec.name)
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_directory(path) as tmp:
            (tmp / SPEC).write_text(spec.model_dump_json(indent=2) + "\n", encoding="utf-8")
            _write_jsonl(tmp / DEV, dev)
            _write_jsonl(tmp / CRITIQUE_DEV, critique_dev)
        return path

    def load(self, name: str) -> TaskSpec:
        path = self.folder(name) / SPEC
        if not path.is_file():
            raise TaskError(f"no task called {name!r}; add one with `softloop task add`")
        try:
            spec = TaskSpec.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError, UnicodeDecodeError) as err:
            raise TaskError(f"the task file {path} cannot be read ({_first(err)})") from None
        if spec.name != name:
            raise TaskError(f"the task file {path} names another task, {spec.name!r}")
        return spec

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if (p / SPEC).is_file() and _is_task_name(p.name)
        )

    def all(self, fingerprint: str | None = None) -> list[TaskSpec]:
        """Every readable task, for one model's fingerprint if given; unreadable ones are
        logged and left out (one broken file must not stop the others from running)."""
        out = []
        for name in self.names():
            try:
                spec = self.load(name)
            except TaskError as err:
                log.warning("%s", err)
                continue
            if fingerprint is None or spec.base_fingerprint in ("", fingerprint):
                out.append(spec)
        return out

    def dev(self, name: str) -> list[Example]:
        return _read_optional(self.folder(name) / DEV)

    def critique_dev(self, name: str) -> list[Example]:
        return _read_optional(self.folder(name) / CRITIQUE_DEV)


class LazyChecks(Mapping[str, AnswerCheck]):
    """Each task's check, imported on first use: a task whose module is gone fails its own
    runs with one line, not every other task's."""

    def __init__(self, specs: Mapping[str, TaskCheckSpec]) -> None:
        self._specs = dict(specs)
        self._loaded: dict[str, AnswerCheck] = {}

    def __getitem__(self, task: str) -> AnswerCheck:
        if task not in self._loaded:
            self._loaded[task] = self._specs[task].load()
        return self._loaded[task]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _is_task_name(name: str) -> bool:
    try:
        check_task_name(name)
    except SoftloopError:
        return False
    return True


def _write_jsonl(path: Path, examples: Sequence[Example]) -> None:
    lines = [
        json.dumps({"input": e.input, "output": e.output, "weight": e.weight}) for e in examples
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _read_optional(path: Path) -> list[Example]:
    if not path.is_file() or path.stat().st_size == 0:
        return []
    return read_jsonl(path)


def _first(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
