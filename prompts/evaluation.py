"""How well a prompt does a task: greedy answers on held-out examples, with and without it.

A trained soft prompt is only worth keeping if it beats what its instruction, written out as
plain text, already gets from the model; so the prompt is always measured beside that: the
same template with the instruction where the virtual tokens go (`SoftPrompt.instructed`).

An answer is right when the task's check says so, or else when it equals the example's output,
surrounding whitespace aside (an instruct model may open with a line break). Where no expected
output spans lines, decoding stops at the first line break after some text, for the prompt and
the plain instruction alike: a model told in words often goes on explaining after its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from softloop.prompts.data import Example
from softloop.prompts.errors import ConfigError
from softloop.prompts.frozen_lm import FrozenLM
from softloop.prompts.soft_prompt import SoftPrompt

EVAL_BATCH = 32  # rows per generate call
MAX_NEW_TOKENS = 64  # the most an answer may take, whatever the examples say
# (input, answer) -> right? The task's own check; None: equal to the example's output.
Check = Callable[[str, str], bool]


@dataclass
class EvalReport:
    """Accuracy under the prompt and under its instruction as text; the answers, in order."""

    accuracy: float
    without_prompt: float
    n: int
    instruction: str
    answers: list[str] = field(default_factory=list, repr=False)
    plain_answers: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {
            "accuracy": self.accuracy,
            "without_prompt": self.without_prompt,
            "n": self.n,
            "instruction": self.instruction,
        }


def is_right(example: Example, answer: str, check: Check | None = None) -> bool:
    if check is not None:
        return bool(check(example.input, answer.strip()))
    return answer.strip() == example.output.strip()


def answer_budget(lm: FrozenLM, examples: Sequence[Example]) -> int:
    """New tokens to allow: the longest expected output's, plus a few, at most 64."""
    longest = max(
        (len(lm.tokenizer(e.output, add_special_tokens=False)["input_ids"]) for e in examples),
        default=0,
    )
    return min(MAX_NEW_TOKENS, longest + 4)


def stop_of(examples: Sequence[Example]) -> list[str]:
    """Stop at a line break where no expected output has one."""
    return [] if any("\n" in e.output.strip() for e in examples) else ["\n"]


def greedy_answers(
    lm: FrozenLM,
    inputs: Sequence[str],
    prompt: SoftPrompt | None,
    max_new_tokens: int,
    stop: Sequence[str] = (),
) -> list[str]:
    out: list[str] = []
    for i in range(0, len(inputs), EVAL_BATCH):
        chunk = list(inputs[i : i + EVAL_BATCH])
        out += lm.generate(chunk, prompt, max_new_tokens=max_new_tokens, stop=list(stop))
    return out


def evaluate(
    lm: FrozenLM,
    prompt: SoftPrompt,
    examples: Sequence[Example],
    check: Check | None = None,
    instruction: str | None = None,
    max_new_tokens: int | None = None,
) -> EvalReport:
    """Accuracy of `prompt`'s greedy answers, and of its instruction's as plain text.

    instruction: the text to compare with (default: the one the prompt was initialised from;
    none: the template alone, with nothing where the virtual tokens go).
    """
    if not examples:
        raise ConfigError("no examples to evaluate on; pass a non-empty data file")
    text = instruction if instruction is not None else (prompt.instruction or "")
    budget = max_new_tokens or answer_budget(lm, examples)
    stop = stop_of(examples)
    inputs = [e.input for e in examples]
    answers = greedy_answers(lm, inputs, prompt, budget, stop)
    plain = greedy_answers(lm, [prompt.instructed(x, text) for x in inputs], None, budget, stop)
    right = sum(is_right(e, a, check) for e, a in zip(examples, answers, strict=True))
    plain_right = sum(is_right(e, a, check) for e, a in zip(examples, plain, strict=True))
    n = len(examples)
    return EvalReport(right / n, plain_right / n, n, text, answers, plain)
