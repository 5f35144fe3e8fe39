"""One place that assembles a working softloop: model, store, registry, oracle, loop, refiner.

The CLI, the demo and the benchmarks all start from `open_setup(...)`:

    setup = open_setup(world=world)             # a world's own model and prompts
    setup = open_setup("./my-model", db_url)    # any Hugging Face causal LM
    final = setup.graph().invoke({"task": "path", "input": "a d;ab bc cd"})
    setup.refiner().refine_once()

On a world's model (`model=None` with a `World`), the world's shipped prompts are registered as
the first active versions (idempotent), and its tasks supply an exact oracle, hints for the
critique prompt's `no:<hint>` targets, the words the model knows each task by, and fixed
evaluation sets for the refiner. Any other model gets what its user's own tasks bring
(`softloop task add`, kept in `agent.tasks`): each task's exact check, run before the critic
and stored as the oracle's verdict, its label, its critique prompt and its fixed evaluation
sets. Prompts trained with `softloop train` and registered with `softloop prompts add` run
without an oracle.

Known limitation: a world's critique evaluation set is built from the model's own answers the
first time a critique prompt is evaluated, under the task prompts active at that moment, and
then kept for the life of the process (so active and candidate meet the same set).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

from softloop.agent.graph import LoopConfig, Oracle, build_graph
from softloop.agent.local_copy import LOCAL_COPY_NAME
from softloop.agent.refine import EvalSets, Refiner
from softloop.agent.registry import PromptRegistry
from softloop.agent.settings import DATABASE_URL_ENV, softloop_home
from softloop.agent.store import DatabaseUnavailableError, Store
from softloop.agent.tasks import LazyChecks, TaskRegistry, TaskSpec
from softloop.agent.world import World
from softloop.critics import Critic, CriticFormat, DoubtHint
from softloop.critics.task_checks import ByTask, as_oracle
from softloop.prompts import Example, FrozenLM, SoftloopError
from softloop.prompts.frozen_lm import check_model_source
from softloop.prompts.names import check_name
from softloop.prompts.threads import fit_threads

log = logging.getLogger("softloop.setup")

# task, input, wrong answer -> a few words on what is wrong
Hint = Callable[[str, str, str], str]
# task, input, answer -> each claim with whether it holds (None: the task has no steps)
StepsFn = Callable[[str, str, str], Sequence[tuple[str, bool]] | None]


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
    critic_format: CriticFormat | None = None  # how the critique prompt reads and writes
    steps: StepsFn | None = None  # the oracle's step by step truth, for the critic's targets
    checks: Sequence[Critic] = ()  # exact checks run before the critic (a user's task checks)
    tasks: Sequence[TaskSpec] = ()  # the user's own tasks on this model (`agent.tasks`)

    def graph(self, **kwargs: Any):
        """`build_graph` over the registry and store, with this world's oracle and task labels.

        kwargs go to `build_graph` (critic, checks, max_rounds, checkpointer, config, ...;
        `store=None` or `oracle=None` to leave either out; `lm=` to run the loop through
        another `PromptedLM` over the same model, e.g. a `MicroBatchLM` shared by concurrent
        runs); a given `config` keeps its own task labels and gains this world's for the others.
        """
        config = kwargs.pop("config", None) or LoopConfig()
        config = config.model_copy(
            update={"task_labels": {**self.task_labels, **config.task_labels}}
        )
        kwargs.setdefault("oracle", self.oracle)
        kwargs.setdefault("store", self.store)
        kwargs.setdefault("doubt_hint", self.doubt_hint)
        kwargs.setdefault("checks", self.checks)
        kwargs.setdefault("critic_format", self.format(config.task_labels))
        lm = kwargs.pop("lm", None) or self.lm
        return build_graph(lm, self.registry, config=config, **kwargs)

    def format(self, task_labels: dict[str, str] | None = None) -> CriticFormat:
        """The critique format with these task labels (default: this world's)."""
        labels = task_labels if task_labels is not None else self.task_labels
        base = self.critic_format or CriticFormat()
        return replace(base, task_labels=labels)

    def refiner(self, **kwargs: Any) -> Refiner:
        """A `Refiner` with this world's eval sets, hints and critic format (kwargs override)."""
        kwargs.setdefault("eval_sets", self.eval_sets)
        kwargs.setdefault("hint", self.hint)
        kwargs.setdefault("critic_format", self.format())
        kwargs.setdefault("steps", self.steps)
        kwargs.setdefault("oracle", self.oracle)
        return Refiner(self.store, self.lm, self.registry, **kwargs)

    @property
    def offline(self) -> str | None:
        """Why the database could not be reached at the last look (None: it answered)."""
        return self.registry.offline

    def known_tasks(self) -> list[str]:
        """Tasks a request may name: those with an active task prompt.

        With the database down: those the registry can still answer (last known, or shipped).
        """
        try:
            rows = self.store.list_prompt_versions()
        except DatabaseUnavailableError as err:
            self.registry.offline = str(err)
            kinds = self.registry.offline_kinds()
            return sorted(name for name, kind in kinds.items() if kind == "task")
        return sorted({r.name for r in rows if r.status == "active" and r.kind == "task"})

    def _has_critique(self, name: str) -> bool:
        try:
            return self.store.active_version(name) is not None
        except DatabaseUnavailableError as err:
            self.registry.offline = str(err)
            return name in self.registry.offline_kinds()

    def check_task(self, task: str) -> None:
        """Raise a one-line `SoftloopError` unless `task` can run through the loop now."""
        check_name(task, "task name")
        known = self.known_tasks()
        if task not in known:
            raise _unknown_task(task, known, self.from_world)
        critique = self.registry.critique_for(task)
        if critique and not self._has_critique(critique):
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
    task: str | None = None,
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
    task: a task the caller is about to run: a name nothing knows is refused before the model
        loads, not after (`Setup.check_task` still makes the full check).
    """
    home = Path(home) if home is not None else softloop_home()
    store = _open_store(db_url, home, auto_upgrade)  # cheap, and fails fast when unreachable
    if model is not None and not (world and world.is_model(model)):
        check_model_source(model)
    if task is not None:
        _precheck_task(task, store, home, world if world and world.is_model(model) else None)
    lm = load_model(model, world)
    fit_threads(lm.model)
    registry = PromptRegistry(store, lm, home / "prompts", local_copy=home / LOCAL_COPY_NAME)
    if world is None or not world.is_model(model):
        setup = Setup(lm=lm, store=store, registry=registry)
    else:
        setup = _world_setup(lm, store, registry, world, defaults)
    return with_tasks(setup, TaskRegistry(home / "tasks"))


def _precheck_task(task: str, store: Store, home: Path, world: World | None) -> None:
    """Refuse a task that no shipped prompt, registered prompt or added task could serve."""
    check_name(task, "task name")
    if world is not None and task in world.default_prompts:
        return
    if task in TaskRegistry(home / "tasks").names():
        return
    try:
        rows = store.list_prompt_versions()
    except DatabaseUnavailableError:
        return  # the full check answers from the registry's local copy
    known = {r.name for r in rows if r.kind == "task" and r.status == "active"}
    if task in known:
        return
    raise _unknown_task(task, sorted(known | set(world.tasks if world else ())), world is not None)


def _unknown_task(task: str, known: Sequence[str], from_world: bool) -> TaskNotFoundError:
    listed = ", ".join(known) or "none"
    if from_world:
        return TaskNotFoundError(f"unknown task {task!r}; the known tasks are: {listed}")
    return TaskNotFoundError(
        f"no active prompt for task {task!r} (known tasks: {listed}); train one with "
        "`softloop train` and register it with `softloop prompts add DIR --active`"
    )


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


def with_tasks(setup: Setup, tasks: TaskRegistry) -> Setup:
    """`setup` with the user's own tasks on its model: each one's check (run before the critic
    and stored as the oracle's verdict, the world's oracle answering for the others), label,
    critique prompt and fixed evaluation sets (read when a refiner first needs them)."""
    specs = tasks.all(setup.lm.fingerprint)
    if not specs:
        return setup
    setup.registry.critique_names.update({s.name: s.critique for s in specs if s.critique})
    checks = LazyChecks({s.name: s.check for s in specs if s.check is not None})
    evals: dict[str, Sequence[Example]] = dict(setup.eval_sets.tasks)
    for s in specs:
        evals[s.name] = LazyExamples(functools.partial(tasks.dev, s.name))
        if s.critique:
            evals[s.critique] = LazyExamples(functools.partial(tasks.critique_dev, s.name))
    oracle = setup.oracle
    if checks:
        own, world = as_oracle(checks), setup.oracle

        def oracle(task: str, input: str, answer: str) -> bool | None:
            if task in checks or world is None:
                return own(task, input, answer)
            return world(task, input, answer)

    return replace(
        setup,
        oracle=oracle,
        task_labels={**setup.task_labels, **{s.name: s.label for s in specs}},
        eval_sets=EvalSets(tasks=evals, critique=setup.eval_sets.critique),
        checks=[*setup.checks, ByTask(checks)] if checks else setup.checks,
        tasks=specs,
    )


def _world_setup(
    lm: FrozenLM,
    store: Store,
    registry: PromptRegistry,
    world: World,
    defaults: Sequence[str] | None,
) -> Setup:
    names = list(world.default_prompts) if defaults is None else defaults
    # Every shipped prompt is the last resort while the database is down, registered or not.
    registry.defaults.update(world.default_prompts)
    try:
        registry.bootstrap({name: world.default_prompts[name] for name in names})
    except DatabaseUnavailableError as err:
        # Runs can still answer, from the local copy or the shipped prompts (agent.registry).
        registry.offline = str(err)
        log.info("shipped prompts not registered: %s", err)
    labels = {name: task.label for name, task in world.tasks.items()}
    tasks = {
        name: [Example(x, y) for x, y in task.eval_examples]
        for name, task in world.tasks.items()
        if task.eval_examples
    }
    fmt = CriticFormat(
        task_labels=labels,
        pass_mark=world.pass_mark,
        fail_mark=world.fail_mark,
        claims=world.claims if any(t.claims for t in world.tasks.values()) else None,
    )
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
        critic_format=fmt,
        steps=world.steps,
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
            steps = task.steps(x, answer) if task.steps else None
            target = fmt.target(steps, task.check(x, answer), task.hint(x, answer))
            rows.append(Example(text, target))
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
