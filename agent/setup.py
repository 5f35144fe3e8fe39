"""One place that assembles a working softloop: model, store, registry, oracle, loop, refiner.

The CLI, the demo and the benchmarks all start from `open_setup(...)`:

    setup = open_setup()                        # the embedded reference world
    setup = open_setup("./my-model", db_url)    # any Hugging Face causal LM
    final = setup.graph().invoke({"task": "reverse", "input": "abcdef"})
    setup.refiner().refine_once()

On the embedded default (`model=None`) the shipped prompts are registered as the first active
versions (idempotent), and the reference tasks supply an exact oracle, hints for the critique
prompt's `no:<hint>` targets, the words the model knows each task by, and fixed evaluation sets
for the refiner. Any other model gets none of that: its prompts come from `softloop train` and
`softloop prompts add`, and its loop runs without an oracle.

Known limitation: the critique evaluation set of the reference world is built from the model's
own answers the first time a critique prompt is evaluated, under the task prompts active at that
moment, and then kept for the life of the process (so active and candidate meet the same set).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.graph import LoopConfig, Oracle, build_graph
from agent.refine import EvalSets, Refiner
from agent.registry import PromptRegistry
from agent.settings import DATABASE_URL_ENV, softloop_home
from agent.store import Store
from critics import CriticFormat, DoubtHint
from prompts import Example, FrozenLM, SoftloopError
from prompts.threads import fit_threads

# task, input, wrong answer -> a few words on what is wrong
Hint = Callable[[str, str, str], str]

# The id recorded in manifests of prompts made for the reference model, whatever the install path
# (bench/train_prompts.py records the same one).
REFERENCE_MODEL_ID = "softloop/reference"
# Dev examples per task in the refiner's fixed task eval sets. With 32, the gate promoted
# candidates that then lost 8-16 points on the test split (one example is 3 points); 100 keeps
# scoring active and candidate to a few seconds per task.
EVAL_PER_TASK = 100
# Dev inputs per task whose own greedy and sampled answers form the critique eval set.
CRITIQUE_EVAL_PER_TASK = 8


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
    is_reference: bool = False
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
            if self.is_reference:
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
    defaults: Sequence[str] | None = None,
    auto_upgrade: bool | None = None,
) -> Setup:
    """Load the model, open the store and the registry; on the reference world, bootstrap it.

    model: a local path or hub id of a causal LM; None for the embedded reference model.
    db_url: the store; default `$SOFTLOOP_DATABASE_URL`, else `softloop.db` in `home`.
    home: the data directory for prompt files and the default database (`$SOFTLOOP_HOME`).
    defaults: which shipped prompts of the reference world to register when their name has no
        version yet (default: all; the demo registers its own weak task prompts instead).
    auto_upgrade: migrate the database to the current schema on first use (default: only
        softloop's own SQLite file; a shared database is upgraded with `softloop db upgrade`).
    """
    home = Path(home) if home is not None else softloop_home()
    reference = _is_reference(model)
    store = _open_store(db_url, home, auto_upgrade)
    lm = load_model(model)
    fit_threads(lm.model)
    registry = PromptRegistry(store, lm, home / "prompts")
    if not reference:
        return Setup(lm=lm, store=store, registry=registry)
    return _reference_setup(lm, store, registry, defaults)


def load_model(model: str | None) -> FrozenLM:
    """A causal LM by local path or hub id; None (or its path) for the embedded reference model.

    The reference model is stamped with one id whatever the install path, so prompts trained
    for it in one checkout match it in another.
    """
    if not _is_reference(model):
        assert model is not None
        return FrozenLM.from_pretrained(model)
    from bench.world import reference_model_path

    lm = FrozenLM.from_pretrained(str(reference_model_path()))
    lm.model_id = REFERENCE_MODEL_ID
    return lm


def _is_reference(model: str | None) -> bool:
    if model is None:
        return True
    from bench.world import REFERENCE_DIR

    path = Path(model).expanduser()
    return path.exists() and path.resolve() == (REFERENCE_DIR / "model").resolve()


def _open_store(db_url: str | None, home: Path, auto_upgrade: bool | None) -> Store:
    url = db_url or os.environ.get(DATABASE_URL_ENV)
    if url:
        return Store(url, auto_upgrade=auto_upgrade)
    # softloop's own SQLite file in its own data directory: created and migrated on first use.
    return Store(f"sqlite:///{home / 'softloop.db'}", auto_upgrade=True)


def _reference_setup(
    lm: FrozenLM, store: Store, registry: PromptRegistry, defaults: Sequence[str] | None
) -> Setup:
    from bench.tasks import TASKS, doubt_hint
    from bench.world import DEFAULT_PROMPTS, default_prompt_path

    names = DEFAULT_PROMPTS if defaults is None else defaults
    registry.bootstrap({name: default_prompt_path(name) for name in names})
    labels = {name: task.instruction for name, task in TASKS.items()}

    def oracle(task: str, input: str, answer: str) -> bool | None:
        return TASKS[task].check(input, answer) if task in TASKS else None

    def hint(task: str, input: str, answer: str) -> str:
        return TASKS[task].hint(input, answer) if task in TASKS else "wrong"

    tasks = {
        name: [Example(x, y) for x, y in task.split("dev", EVAL_PER_TASK)]
        for name, task in TASKS.items()
    }
    fmt = CriticFormat(task_labels=labels)
    critique = LazyExamples(lambda: _own_answer_cases(lm, registry, fmt, hint))
    return Setup(
        lm=lm,
        store=store,
        registry=registry,
        oracle=oracle,
        hint=hint,
        task_labels=labels,
        doubt_hint=doubt_hint,
        is_reference=True,
        eval_sets=EvalSets(tasks=tasks, critique=critique),
    )


def _own_answer_cases(
    lm: FrozenLM, registry: PromptRegistry, fmt: CriticFormat, hint: Hint
) -> list[Example]:
    """Critic eval rows from the model's own answers to dev inputs, labelled by the oracle.

    The critic has to catch the model's own plausible mistakes, not random edits (NOTES.md), so
    each dev input contributes its greedy answer and one sampled at T=1 (more often wrong).
    """
    from bench.tasks import TASKS

    rows: list[Example] = []
    for name, task in TASKS.items():
        active = registry.active_prompt(name)
        if active is None:
            continue
        prompt = active[1]
        inputs = [x for x, _ in task.split("dev", CRITIQUE_EVAL_PER_TASK, seed=1)]
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
                    Example(text, f"{fmt.fail_text}{fmt.feedback_sep}{hint(name, x, answer)}")
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

    def __getitem__(self, index):  # type: ignore[override]
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[Example]:
        return iter(self._get())
