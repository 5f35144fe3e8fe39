"""The exact check of the example task: the answer is the sum, written as a bare number.

`softloop task add ... --check arith:check_sum` imports it from this folder and remembers where,
so later runs from any directory find it.
"""

from __future__ import annotations


def check_sum(input: str, answer: str) -> tuple[bool, str]:
    """`7+5` -> right only for `12`; the feedback says what the answer should look like."""
    a, b = (int(x) for x in input.split("+"))
    if answer.strip() == str(a + b):
        return True, ""
    if not answer.strip().isdigit():
        return False, "answer with the number only"
    return False, "wrong sum"


def check_last_number(input: str, answer: str) -> bool:
    """A lenient reading: the last number in the answer is the sum (`The answer is 12.`).

    Not the task's check (the loop wants the bare number); it shows how much of the plain
    instruction's failure is its wording rather than its arithmetic.
    """
    import re

    a, b = (int(x) for x in input.split("+"))
    numbers = re.findall(r"\d+", answer)
    return bool(numbers) and numbers[-1] == str(a + b)
