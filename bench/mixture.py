"""The pre-training data mixture: solve, judge and revise examples as (query, target) text pairs.

A small share of examples spell node pairs out (`spl:ad bc=` -> `adbc`). The tokenizer makes
each lone pair of letters one token (`bench.tokenizer`), and a solver can only walk a graph once
it knows which two nodes each edge token joins: these examples say so directly, where the tasks
say it only through their answers.

Wrong answers come from two sources. Synthetic edits of a right answer (a swapped, dropped,
doubled or changed character) are cheap and cover every task from step one. The model's *own*
outputs (`OwnOutputs`, sampled on train-split inputs and labelled by the oracle) are the mistakes
a judge must catch in the loop, and those a revise step must fix.

Every input is drawn from the train split only; difficulties are drawn uniformly from the task's
`min_train_difficulty` to its `max_difficulty`.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from softloop.bench import formats
from softloop.bench.tasks import TASKS, Task

Example = tuple[str, str]  # (query text, target text); BOS/EOS are added when encoding


def draw_difficulty(rng: random.Random, task: Task) -> int:
    # Uniform: small inputs are where a small model first finds the algorithm; weighting the
    # draw towards large ones starves them.
    return rng.randint(task.min_train_difficulty, task.max_difficulty)


def draw_train(rng: random.Random, task: Task, difficulty: int | None = None) -> tuple[str, str]:
    """One train-split (input, answer), rejecting inputs that hash into dev or test."""
    d = draw_difficulty(rng, task) if difficulty is None else difficulty
    while True:
        x, y = (task.pretrain_generate or task.generate)(rng, d)
        if task.split_of(x) == "train":
            return x, y


def corrupt(rng: random.Random, task: Task, x: str, y: str) -> str:
    """A plausible wrong answer to `x`: a small edit of a right answer `y`, never right itself.

    Letters come from the input (the nodes or digits the task is about), so a wrong answer is
    wrong for a reason a lookup can find, not because it names something absent.
    """
    alphabet = sorted({c for c in x if c.isalnum()}) or ["a"]
    for _ in range(50):
        s = list(y)
        op = rng.randrange(5)
        i = rng.randrange(len(s))
        if op == 0 and len(s) > 1:  # swap neighbours
            j = min(i + 1, len(s) - 1)
            s[i], s[j] = s[j], s[i]
        elif op == 1 and len(s) > 1:  # drop one
            del s[i]
        elif op == 2:  # double one
            s.insert(i, s[i])
        elif op == 3:  # insert one
            s.insert(i, rng.choice(alphabet))
        else:  # change one
            s[i] = rng.choice(alphabet)
        wrong = "".join(s)
        if wrong and not task.check(x, wrong):
            return wrong
    return y + y[-1]


@dataclass
class OwnOutputs:
    """The model's own answers on train inputs, labelled by the oracle, per task."""

    right: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # task -> (x, answer)
    wrong: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, task: Task, x: str, answer: str) -> None:
        pool = self.right if task.check(x, answer) else self.wrong
        pool.setdefault(task.name, []).append((x, answer))

    def counts(self) -> dict[str, tuple[int, int]]:
        return {n: (len(self.right.get(n, [])), len(self.wrong.get(n, []))) for n in TASKS}


@dataclass(frozen=True)
class Mixture:
    """Shares of each ability; own-output shares apply once own outputs exist (phase 2)."""

    solve: float = 0.65
    judge: float = 0.2
    revise: float = 0.15
    judge_own: float = 0.0  # of judge examples, the fraction whose answer is the model's own
    revise_own: float = 0.0  # of revise examples, the fraction fixing the model's own mistake
    judge_right: float = 0.5  # of judge examples, the fraction whose answer is right
    spell: float = 0.0  # of ALL examples, the fraction spelling pairs (the rest: as above)


PHASE1 = Mixture(solve=0.4, judge=0.4, revise=0.2, spell=0.1)
PHASE2 = Mixture(solve=0.35, judge=0.45, revise=0.2, judge_own=0.6, revise_own=0.7, spell=0.05)
# Phase 3 judges almost only the model's own answers, drawn around the default difficulties.
PHASE3 = Mixture(solve=0.3, judge=0.5, revise=0.2, judge_own=0.9, revise_own=0.7)

SPELL_INSTRUCTION = "spl"


def spell_example(rng: random.Random) -> Example:
    """`spl:qd bc=` -> `qdbc`: two to eight pairs of distinct letters, in either order, written
    back as letters. Never fewer than two: a lone pair in the target would be one token again."""
    pairs = ["".join(rng.sample(string.ascii_lowercase, 2)) for _ in range(rng.randint(2, 8))]
    return formats.solve_text(SPELL_INSTRUCTION, " ".join(pairs)), "".join(pairs)


def sample_example(rng: random.Random, mix: Mixture, own: OwnOutputs | None = None) -> Example:
    if mix.spell and rng.random() < mix.spell:
        return spell_example(rng)
    task = rng.choice(list(TASKS.values()))
    instr = task.instruction
    r = rng.random()
    if r < mix.solve:
        x, y = draw_train(rng, task)
        return formats.solve_text(instr, x), y
    if r < mix.solve + mix.judge:
        right = rng.random() < mix.judge_right
        pool = (own.right if right else own.wrong).get(task.name) if own else None
        if pool and rng.random() < mix.judge_own:
            x, a = rng.choice(pool)
        else:
            x, y = draw_train(rng, task)
            a = y if right else corrupt(rng, task, x, y)
        return formats.judge_text(instr, x, a), formats.check_trace(task.steps(x, a))
    pool = own.wrong.get(task.name) if own else None
    if pool and rng.random() < mix.revise_own:
        x, a = rng.choice(pool)
        y = task.solve(x)
    else:
        x, y = draw_train(rng, task)
        a = corrupt(rng, task, x, y)
    feedback = task.hint(x, a)
    if rng.random() < 0.1:
        # A right answer wrongly flagged must survive revision: keep it whatever the feedback.
        a = y
    return formats.revise_text(instr, x, a, feedback), y
