"""The reference task suite: seeded generators, oracles made of local steps, cheap hints.

A `Task` is data plus three functions: `generate(rng, difficulty)` draws one `(input, answer)`,
`solve(input)` gives one right answer, and `steps(input, answer)` lists the local claims an
answer must satisfy (`bench.steps.Step`). The oracle (`check`) is "every step holds", and the
hint is the first claim that fails (`no bc`): what the base model learns to write when it
judges, and to act on when it revises.

Every task is a search whose result is easy to check (`bench.graphs`, `bench.pairs`): often
many answers are right, finding one needs a computation no single lookup gives, and checking one
needs only lookups. A small model's judge can then be more reliable than its solver, which is
when generate → critique → revise pays. Difficulty is one integer per task: the number of nodes
of a graph or of digits in a list.

Splits are fixed by a hash of the input, not by the order of generation: an input belongs to
exactly one of train / dev / test whatever the seed, the difficulty or the number asked for, so
no test input is ever trained on — neither by the pre-training recipe nor by a prompt trained on
the train split.

`default_difficulty` is where the shipped model's greedy first attempt with the text instruction
is right 60–90 % of the time on the test split (`bench/reference/model/MODEL_CARD.md`);
`easy_difficulty` is a sanity-check setting it almost always gets right; the pre-training range
is `min_train_difficulty` to `max_difficulty`. A task's pre-training draws may be wider than its
benchmark's (`pretrain_generate`): diff is asked only for values one pair makes, the searches the
model gets wrong often enough to leave something to correct, while it learnt on every value.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from softloop.bench import graphs, pairs
from softloop.bench.steps import Step
from softloop.prompts.errors import SoftloopError

Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")
# Percent of the input space in each split, by hash bucket: test 0-9, dev 10-19, train 20-99.
_SPLIT_BUCKETS: dict[Split, range] = {
    "test": range(0, 10),
    "dev": range(10, 20),
    "train": range(20, 100),
}


@dataclass(frozen=True)
class Task:
    """One reference task. Instances live in `TASKS`; use `get_task(name)`."""

    name: str  # registry key and the name the agent, store and prompt files use
    instruction: str  # the short text instruction the base model was pre-trained with
    generate: Callable[[random.Random, int], tuple[str, str]]  # (rng, difficulty) -> (x, y)
    solve: Callable[[str], str]  # input -> one right answer
    steps: Callable[[str, str], list[Step]]  # (input, answer) -> the claims it must satisfy
    default_difficulty: int  # first attempt right 60-90 % of the time (measured)
    easy_difficulty: int  # first attempt nearly always right
    max_difficulty: int  # top of the pre-training range
    min_train_difficulty: int = 2  # bottom of the pre-training range
    description: str = ""
    # The pre-training corpus's draws when they are wider than the benchmark's (None: `generate`).
    pretrain_generate: Callable[[random.Random, int], tuple[str, str]] | None = None

    def check(self, input: str, answer: str) -> bool:
        """The exact oracle: is `answer` a right answer to `input`?"""
        return all(step.ok for step in self.steps(input, answer))

    def hint(self, input: str, answer: str) -> str:
        """A few words on what is wrong: the first claim that fails (`ok` if none does)."""
        failed = next((s for s in self.steps(input, answer) if not s.ok), None)
        return "ok" if failed is None else f"no {failed.claim}".rstrip()

    def split_of(self, input: str) -> Split:
        """Which split an input belongs to (a pure function of task name and input)."""
        bucket = int.from_bytes(hashlib.sha1(f"{self.name}|{input}".encode()).digest()[:4], "big")
        bucket %= 100
        return next(s for s, r in _SPLIT_BUCKETS.items() if bucket in r)

    def split(
        self, split: Split, n: int, difficulty: int | None = None, seed: int = 0
    ) -> list[tuple[str, str]]:
        """`n` distinct `(input, answer)` pairs of one split, deterministic in all arguments.

        May return fewer than `n` when the split holds fewer distinct inputs at that difficulty
        (tiny difficulties have tiny input spaces).
        """
        if split not in _SPLIT_BUCKETS:
            raise SoftloopError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        d = self.default_difficulty if difficulty is None else difficulty
        if d < 1:
            raise SoftloopError(f"difficulty must be >= 1, got {d}")
        rng = random.Random(f"{self.name}|{split}|{d}|{seed}")
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        # Misses (wrong split or repeat) are bounded: stop after 50 tries per wanted example.
        for _ in range(50 * n + 1000):
            if len(out) == n:
                break
            x, y = self.generate(rng, d)
            if x in seen or self.split_of(x) != split:
                continue
            seen.add(x)
            out.append((x, y))
        return out


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            name="path",
            instruction="pth",
            generate=graphs.path_generate,
            solve=graphs.path_solve,
            steps=graphs.path_steps,
            default_difficulty=5,
            easy_difficulty=4,
            max_difficulty=9,
            min_train_difficulty=3,
            description="a walk between the two named nodes of a graph of d nodes",
        ),
        Task(
            name="triangle",
            instruction="tri",
            generate=graphs.triangle_generate,
            solve=graphs.triangle_solve,
            steps=graphs.triangle_steps,
            default_difficulty=5,
            easy_difficulty=4,
            max_difficulty=10,
            min_train_difficulty=3,
            description="three mutually joined nodes in a graph of d nodes",
        ),
        Task(
            name="via",
            instruction="via",
            generate=graphs.via_generate,
            solve=graphs.via_solve,
            steps=graphs.via_steps,
            default_difficulty=6,
            easy_difficulty=4,
            max_difficulty=10,
            min_train_difficulty=3,
            description="the node joined to both named nodes of a graph of d nodes",
        ),
        Task(
            name="gap",
            instruction="gap",
            generate=graphs.gap_generate,
            solve=graphs.gap_solve,
            steps=graphs.gap_steps,
            default_difficulty=4,
            easy_difficulty=3,
            max_difficulty=9,
            min_train_difficulty=3,
            description="two nodes not joined in a graph of d nodes where nearly all are",
        ),
        Task(
            name="sum",
            instruction="sum",
            generate=pairs.generator(pairs.add),
            solve=pairs.solver(pairs.add),
            steps=pairs.stepper(pairs.add),
            default_difficulty=6,
            easy_difficulty=2,
            max_difficulty=10,
            description="two of d distinct digits that add up to the number given",
        ),
        Task(
            name="diff",
            instruction="dif",
            generate=pairs.unique_generator(pairs.difference),
            pretrain_generate=pairs.generator(pairs.difference),
            solve=pairs.solver(pairs.difference),
            steps=pairs.stepper(pairs.difference),
            default_difficulty=5,
            easy_difficulty=2,
            max_difficulty=10,
            description="the one pair of d distinct digits that differs by the number given",
        ),
    )
}


def get_task(name: str) -> Task:
    """The task called `name`; a `SoftloopError` naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise SoftloopError(
            f"unknown task {name!r}; the reference tasks are: {', '.join(TASKS)}"
        ) from None
