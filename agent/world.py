"""A world: the default model, tasks and prompts a composition root hands to the library.

The library knows no particular model or task suite. Whoever assembles a program (the `softloop`
command, a test, an application) may hand it a `World`: a base model to load when none is
named, the shipped prompts to register on first use, and for each task what only the world
knows: an exact check, a few words on what a wrong answer got wrong, and inputs to evaluate on.
The embedded reference world (`softloop.bench.world.reference_world`) is one; the library never
imports it.

A world is plain data and callables, cheap to build: nothing here loads a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the critics import torch; a world is read before any model loads
    from softloop.critics.confidence import DoubtHint


@dataclass(frozen=True)
class WorldTask:
    """What a world knows about one task beyond its soft prompt."""

    label: str  # the words the base model knows the task by, in critique and revise inputs
    check: Callable[[str, str], bool]  # (input, answer) -> right?  An exact oracle.
    hint: Callable[[str, str], str]  # (input, wrong answer) -> a few words on what is wrong
    # (input, right answer) pairs the refiner evaluates task prompts on; never trained on.
    eval_examples: Sequence[tuple[str, str]] = ()
    # Inputs whose own answers (greedy and sampled) form the critique prompt's eval set.
    critique_inputs: Sequence[str] = ()
    # (input, answer) -> the claims a critic checks, one mark each; read off the answer, never
    # the truth. None: one verdict for the whole answer.
    claims: Callable[[str, str], Sequence[str]] | None = None
    # (input, answer) -> each claim with whether it holds: the oracle's step by step view, the
    # critique prompt's training target. Needed wherever `claims` is given.
    steps: Callable[[str, str], Sequence[tuple[str, bool]]] | None = None


@dataclass(frozen=True)
class World:
    """The embedded default of a program. See the module docstring."""

    model_path: Path  # a folder `FrozenLM.from_pretrained` loads
    model_id: str  # recorded in prompt manifests, the same whatever the install path
    tasks: Mapping[str, WorldTask] = field(default_factory=dict)
    # Shipped prompts (task prompts, the critique and revise prompts): name -> folder.
    default_prompts: Mapping[str, Path] = field(default_factory=dict)
    # How the confidence critic words its doubt for each task (None: positions).
    doubt_hint: DoubtHint | None = None
    # The marks the model writes after each checked claim (the critique format's verdicts).
    pass_mark: str = "yes"
    fail_mark: str = "no"

    def is_model(self, model: str | None) -> bool:
        """Whether `model` names this world's base model (None does: it is the default)."""
        if model is None:
            return True
        path = Path(model).expanduser()
        return path.exists() and path.resolve() == self.model_path.resolve()

    def check(self, task: str, input: str, answer: str) -> bool | None:
        """The oracle's verdict; None for a task this world does not know."""
        spec = self.tasks.get(task)
        return spec.check(input, answer) if spec is not None else None

    def hint(self, task: str, input: str, answer: str) -> str:
        spec = self.tasks.get(task)
        return spec.hint(input, answer) if spec is not None else "wrong"

    def claims(self, task: str, input: str, answer: str) -> Sequence[str]:
        """The claims a critic checks; one unnamed claim for a task without steps."""
        spec = self.tasks.get(task)
        return spec.claims(input, answer) if spec is not None and spec.claims else [""]

    def steps(self, task: str, input: str, answer: str) -> Sequence[tuple[str, bool]] | None:
        spec = self.tasks.get(task)
        return spec.steps(input, answer) if spec is not None and spec.steps else None


# A world is built on demand: the CLI asks for it only when a command needs a model.
WorldFactory = Callable[[], World]

__all__ = ["World", "WorldFactory", "WorldTask"]
