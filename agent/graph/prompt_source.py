"""Where a run's soft prompts come from: a fixed set, or the registry's active versions.

A run asks its source once, at the start, which prompts to use (`select`) and keeps only their
names and versions in its state; nodes then `load` the prompt objects by reference. That is what
lets a newly promoted version take effect at the next run without a restart, keeps the state
serialisable for checkpointers, and lets a resumed run continue on the versions it started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from softloop.prompts import SoftloopError, SoftPrompt


class PromptRef(BaseModel):
    """A prompt version by name, as stored with every attempt."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class PromptSelection(BaseModel):
    """The prompts one run uses; critique and revise are optional (a user may bring a critic)."""

    model_config = ConfigDict(frozen=True)

    task: PromptRef
    critique: PromptRef | None = None
    revise: PromptRef | None = None

    def versions(self) -> dict[str, int]:
        refs = [self.task, self.critique, self.revise]
        return {r.name: r.version for r in refs if r is not None}


@runtime_checkable
class PromptSource(Protocol):
    def select(self, task: str) -> PromptSelection: ...

    def load(self, ref: PromptRef) -> SoftPrompt: ...


def _ref(prompt: SoftPrompt) -> PromptRef:
    return PromptRef(name=prompt.manifest.name, version=prompt.manifest.version)


@dataclass
class FixedPrompts:
    """Prompt objects held in memory, for users without a registry.

    `task` is one prompt for every task, or a mapping task name → prompt.
    """

    task: SoftPrompt | Mapping[str, SoftPrompt]
    critique: SoftPrompt | None = None
    revise: SoftPrompt | None = None

    def _task_prompt(self, task: str) -> SoftPrompt:
        if isinstance(self.task, SoftPrompt):
            return self.task
        if task not in self.task:
            known = ", ".join(sorted(self.task)) or "none"
            raise SoftloopError(f"no task prompt for task {task!r} (known tasks: {known})")
        return self.task[task]

    def _all(self) -> list[SoftPrompt]:
        tasks = [self.task] if isinstance(self.task, SoftPrompt) else list(self.task.values())
        return [p for p in [*tasks, self.critique, self.revise] if p is not None]

    def select(self, task: str) -> PromptSelection:
        return PromptSelection(
            task=_ref(self._task_prompt(task)),
            critique=_ref(self.critique) if self.critique is not None else None,
            revise=_ref(self.revise) if self.revise is not None else None,
        )

    def load(self, ref: PromptRef) -> SoftPrompt:
        for prompt in self._all():
            if _ref(prompt) == ref:
                return prompt
        raise SoftloopError(f"prompt {ref} is not among the fixed prompts given to build_graph")
