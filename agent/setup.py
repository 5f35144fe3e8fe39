"""One place that assembles a working softloop: model, store, registry, oracle, loop, refiner.

The CLI, the demo and the benchmarks all start from `open_setup(...)`:

    setup = open_setup(world=world)             # a world's own model and prompts
    setup = open_setup("./my-model", db_url)    # any Hugging Face causal LM
    final = setup.graph().invoke({"task": "path", "input": "ad;ab bc cd"})
    setup.refiner().refine_once()

On a world's model (`model=None` with a `World`), the world's shipped prompts are registered as
the first active versions (idempotent), and its tasks supply an exact oracle, hints for the
critique prompt's `no:<hint>` targets, the words the model knows each task by, and fixed
evaluation sets for the refiner. Any other model gets none of that: its prompts come from
`softloop train` and `softloop prompts add`, and its loop runs without an oracle.

Known limitation: a world's critique evaluation set is built from the model's own answers the
first time a critique prompt is evaluated, under the task prompts active at that moment, and
then kept for the life of the process (so active and candidate meet the same set).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from softloop.agent.graph import LoopConfig, Oracle, build_graph
from softloop.agent.refine import EvalSets, Refiner
from softloop.agent.registry import PromptRegistry
from softloop.agent.settings import DATABASE_URL_ENV, softloop_home
from softloop.agent.store import Store
from softloop.agent.world import World
from softloop.critics import CriticFormat, DoubtHint
from softloop.prompts import Example, FrozenLM, SoftloopError
from softloop.prompts.threads import fit_threads

# task, input, wrong answer -> a few words on what is wrong
Hint = Callable[[str, str, str], str]


class TaskNotFoundError(SoftloopError):
    """A request named a task that has no active prompt."""


@dataclass
class Setup:
    """What the loop and the refiner need, assembled once. Build with `open_setup`."""

    lm: FrozenLM
    store: Store
    registry: PromptRegistry
    oracle: Oracle | None = None
    hint: Hint | None = None
    task_labels: dict[str, str] = field(default_factory=dict)
    doubt_hint: DoubtHint | None = None
    from_world: bool = False  # the world's own model, prompts and oracle
    eval_sets: EvalSets = field(default_factory=EvalSets)

    def graph(self, **kwargs: Any):
        """`build_graph` over the registry and store, with this world's oracle and task labels.

        kwargs go to `build_graph` (critic, checks, max_rounds, checkpointer, config, ...;
        `store=None` or `oracle=None` to leave either out); a given `config` keeps its own task
        labels and gains this world's for the others.
        """
        config = kwargs.pop("config", None) or LoopConfig()
        config = config.model_copy(
            update={"task_labels": {**self.task_labels, **config.task_labels}}
        )
        kwargs.setdefault("oracle", self.oracle)
        kwargs.setdefault("store", self.store)
        kwargs.setdefault("doubt_hint", self.doubt_hint)
        return build_graph(self.lm, self.registry, config=config, **kwargs)

    def refiner(self, **kwargs: Any) -> Refiner:
        """A `Refiner` with this world's eval sets, hints and critic format (kwargs override)."""
        kwargs.setdefault("eval_sets", self.eval_sets)
        kwargs.setdefault("hint", self.hint)
        kwargs.setdefault("critic_format", CriticFormat(task_labels=self.task_labels))
        return Refiner(self.store, self.lm, self.registry, **kwargs)

    def known_tasks(self) -> list[str]:
        """Tasks a request may name: those with an active task prompt."""
        rows = self.store.list_prompt_versions()
        return sorted({r.name for r in rows if r.status == "active" and r.kind == "task"})

    def check_task(self, task: str) -> None:
        """Raise a one-line `SoftloopError` unless `task` can run through the loop now."""
        known = self.known_tasks()
        if task not in known:
            listed = ", ".join(known) or "none"
            if self.from_world:
                raise TaskNotFoundError(f"unknown task {task!r}; the known tasks are: {listed}")
            raise TaskNotFoundError(
                f"no active prompt for task {task!r} (known tasks: {listed}); train one with "
                "`softloop train` and register it with `softloop prompts add DIR --active`"
            )
        critique = self.registry.critique_name
        if critique and self.store.active_version(critique) is None:
            raise SoftloopError(
                f"no active {critique!r} prompt, so the loop has no critic; train one and "
                f"register it with `softloop prompts add DIR --kind critique --active`"
            )

    def close(self) -> None:
        self.store.close()


def open_setup(
    model: str | None = None,
    db_url: str | None = None,
    home: Path | None = None,
    *,
    world: World | None = None,
    defaults: Sequence[str] | None = None,
    auto_upgrade: bool | None = None,
) -> Setup:
    """Load the model, open the store and the registry; on a world's own model, bootstrap it.

    model: a local path or hub id of a causal LM; None for the world's model.
    db_url: the store; default `$SOFTLOOP_DATABASE_URL`, else `softloop.db` in `home`.
    home: the data directory for prompt files and the default database (`$SOFTLOOP_HOME`).
    world: the embedded default (model, tasks, shipped prompts); see `softloop.agent.world`.
    defaults: which of the world's shipped prompts to register when their name has no version
        yet (default: all; the demo registers its own weak task prompts instead).
    auto_upgrade: migrate the database to the current schema on first use (default: only
        softloop's own SQLite file; a shared database is upgraded with `softloop db upgrade`).
    """
    home = Path(home) if home is not None else softloop_home()
    store = _open_store(db_url, home, auto_upgrade)  # cheap, and fails fast when unreachable
    lm = load_model(model, world)
    fit_threads(lm.model)
    registry = PromptRegistry(store, lm, home / "prompts")
    if world is None or not world.is_model(model):
        return Setup(lm=lm, store=store, registry=registry)
    return _world_setup(lm, store, registry, world, defaults)


def load_model(model: str | None, world: World | None = None) -> FrozenLM:
    """A causal LM by local path or hub id; None (or its path) for the world's model.

    The world's model is stamped with the world's id whatever the install path, so prompts
    trained for it in one checkout match it in another.
    """
    if world is None or not world.is_model(model):
        if model is None:
            raise SoftloopError("no model given; pass --model PATH_OR_ID")
        return FrozenLM.from_pretrained(model)
    lm = FrozenLM.from_pretrained(str(world.model_path))
    lm.model_id = world.model_id
    return lm


def _open_store(db_url: str | None, home: Path, auto_upgrade: bool | None) -> Store:
    url = db_url or os.environ.get(DATABASE_URL_ENV)
    if url:
        return Store(url, auto_upgrade=auto_upgrade)
    # softloop's own SQLite file in its own data directory: created and migrated on first use.
    return Store(f"sqlite:///{home / 'softloop.db'}", auto_upgrade=True)


def _world_setup(
    lm: FrozenLM,
    store: Store,
    registry: PromptRegistry,
    world: World,
    defaults: Sequence[str] | None,
) -> Setup:
    names = list(world.default_prompts) if defaults is None else defaults
    registry.bootstrap({name: world.default_prompts[name] for name in names})
    labels = {name: task.label for name, task in world.tasks.items()}
    tasks = {
        name: [Example(x, y) for x, y in task.eval_examples]
        for name, task in world.tasks.items()
        if task.eval_examples
    }
    fmt = CriticFormat(task_labels=labels)
    critique = LazyExamples(lambda: _own_answer_cases(lm, registry, fmt, world))
    return Setup(
        lm=lm,
        store=store,
        registry=registry,
        oracle=world.check,
        hint=world.hint,
        task_labels=labels,
        doubt_hint=world.doubt_hint,
        from_world=True,
        eval_sets=EvalSets(tasks=tasks, critique=critique),
    )


def _own_answer_cases(
    lm: FrozenLM, registry: PromptRegistry, fmt: CriticFormat, world: World
) -> list[Example]:
    """Critic eval rows from the model's own answers, labelled by the world's oracle.

    The critic has to catch the model's own plausible mistakes, not random edits, so each input
    contributes its greedy answer and one sampled at T=1 (more often wrong).
    """
    rows: list[Example] = []
    for name, task in world.tasks.items():
        active = registry.active_prompt(name)
        if active is None or not task.critique_inputs:
            continue
        prompt = active[1]
        inputs = list(task.critique_inputs)
        greedy = lm.generate(inputs, prompt, max_new_tokens=32)
        sampled = lm.generate(inputs, prompt, max_new_tokens=32, do_sample=True, seed=1)
        seen: set[tuple[str, str]] = set()
        for x, answer in [*zip(inputs, greedy, strict=True), *zip(inputs, sampled, strict=True)]:
            if (x, answer) in seen:
                continue
            seen.add((x, answer))
            text = fmt.render_parts(name, x, answer)
            if task.check(x, answer):
                rows.append(Example(text, fmt.pass_text))
            else:
                rows.append(
                    Example(text, f"{fmt.fail_text}{fmt.feedback_sep}{task.hint(x, answer)}")
                )
    return rows


class LazyExamples(Sequence[Example]):
    """Examples built on first use and then kept: a fixed eval set that costs nothing until read."""

    def __init__(self, build: Callable[[], Sequence[Example]]):
        self._build = build
        self._items: list[Example] | None = None
        self._lock = threading.Lock()

    def _get(self) -> list[Example]:
        with self._lock:
            if self._items is None:
                self._items = list(self._build())
            return self._items

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Example]: ...
    def __getitem__(self, index: int | slice) -> Example | Sequence[Example]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[Example]:
        return iter(self._get())
