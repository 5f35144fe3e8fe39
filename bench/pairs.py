"""Digit-pair tasks of the reference world: find two digits of a list that make a number.

The input names the number, then the list of distinct digits: `11;72941`. Finding a pair is a
search over the list; checking one is two lookups in the list and one sum or difference.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from softloop.bench.steps import Step

_DIGITS = "0123456789"
Combine = Callable[[int, int], int]


def add(a: int, b: int) -> int:
    return a + b


def difference(a: int, b: int) -> int:
    return abs(a - b)


def generator(combine: Combine) -> Callable[[random.Random, int], tuple[str, str]]:
    """n distinct digits (2 to 10) and the value of one pair of them; that pair answers."""

    def generate(rng: random.Random, n: int) -> tuple[str, str]:
        digits = rng.sample(_DIGITS, min(max(n, 2), 10))
        while True:
            a, b = rng.sample(digits, 2)
            value = combine(int(a), int(b))
            if value > 0:
                break
        first, second = sorted((a, b), key=digits.index)
        return f"{value};{''.join(digits)}", first + second

    return generate


def unique_generator(combine: Combine) -> Callable[[random.Random, int], tuple[str, str]]:
    """n distinct digits (2 to 10) and a value exactly one pair of them makes; that pair answers.

    A value several pairs make is found early in a scan of the pairs, so a long list is easy; a
    value only one pair makes needs the search to run until that pair, at every length.
    """

    def generate(rng: random.Random, n: int) -> tuple[str, str]:
        while True:
            digits = rng.sample(_DIGITS, min(max(n, 2), 10))
            makers: dict[int, list[str]] = {}
            for i, a in enumerate(digits):
                for b in digits[i + 1 :]:
                    value = combine(int(a), int(b))
                    if value > 0:
                        makers.setdefault(value, []).append(a + b)
            once = sorted(v for v, found in makers.items() if len(found) == 1)
            if once:
                value = rng.choice(once)
                return f"{value};{''.join(digits)}", makers[value][0]

    return generate


def solver(combine: Combine) -> Callable[[str], str]:
    """The first pair in list order."""

    def solve(text: str) -> str:
        value, _, digits = text.partition(";")
        for i, a in enumerate(digits):
            for b in digits[i + 1 :]:
                if combine(int(a), int(b)) == int(value):
                    return a + b
        return ""

    return solve


def stepper(combine: Combine) -> Callable[[str, str], list[Step]]:
    """Each digit is in the list; the two differ and make the number."""

    def steps(text: str, answer: str) -> list[Step]:
        value, _, digits = text.partition(";")
        if len(answer) != 2 or not answer.isascii() or not answer.isdigit() or not value.isdigit():
            return [Step("", False)]  # not two digits: one unnamed step (claims hold no marks)
        a, b = answer[0], answer[1]
        makes = a != b and combine(int(a), int(b)) == int(value)
        return [Step(a, a in digits), Step(b, b in digits), Step(answer, makes)]

    return steps
