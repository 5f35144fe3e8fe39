"""Checks that tests name by `module:function` (`--check tests.agent.checks_for_tests:...`)."""

from __future__ import annotations


def ends_in_digit(input: str, answer: str) -> bool:
    return answer[-1:].isdigit()


def explains(input: str, answer: str) -> tuple[bool, str]:
    return answer == input, f"expected {input}"


def explodes(input: str, answer: str) -> bool:
    raise RuntimeError("boom")
