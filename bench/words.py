"""A word task of the reference world: name the letter two words share.

The input is two words of distinct letters with exactly one letter in common: `bxdk|pbqz`. The
answer is that letter. Checking it is two lookups, one in each word; finding it means comparing
every letter of one word with the other's.
"""

from __future__ import annotations

import random
import string

from softloop.bench.steps import Step

_LETTERS = string.ascii_lowercase
SEP = "|"


def common_generate(rng: random.Random, n: int) -> tuple[str, str]:
    """Two words of n distinct letters (2 to 13) sharing exactly one letter."""
    n = min(max(n, 2), 13)
    letters = rng.sample(_LETTERS, 2 * n - 1)
    shared, first, second = letters[0], letters[1:n], letters[n:]
    first.insert(rng.randrange(n), shared)
    second.insert(rng.randrange(n), shared)
    return "".join(first) + SEP + "".join(second), shared


def common_solve(text: str) -> str:
    first, _, second = text.partition(SEP)
    shared = [c for c in second if c in first]
    return shared[0] if shared else ""


def common_steps(text: str, answer: str) -> list[Step]:
    """One letter, in the first word, and in the second."""
    first, _, second = text.partition(SEP)
    if len(answer) != 1 or not (answer.isascii() and answer.isalpha() and answer.islower()):
        return [Step("", False)]
    return [Step(answer, answer in first), Step(answer, answer in second)]
