"""Prompts trained to answer a constant and critics with a scripted verdict.

A random tiny model's outputs are arbitrary, which makes "the revision repeats an earlier
answer" or "the critic passes" unpredictable. Prompts trained to answer a constant make them
certain while every model call stays real.
"""

from __future__ import annotations

from softloop.critics import PredicateCritic
from softloop.prompts import Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt

INPUTS = ["12", "345", "9", "77", "a1", "b", "cc", "1b2"]


def constant_prompt(lm: FrozenLM, answer: str, name: str) -> SoftPrompt:
    """A prompt that answers `answer` whatever the input (the loop's revise inputs included)."""
    prompt = SoftPrompt.from_init(lm, 6, init="vocab", name=name, seed=1)
    inputs = INPUTS + [f"t:{i}={answer}!wrong" for i in INPUTS]
    train = [Example(input=i, output=answer) for i in inputs]
    train_prompt(lm, prompt, train, config=TrainConfig(steps=100, lr=0.1, progress=False))
    assert lm.generate(inputs, prompt, max_new_tokens=4) == [answer] * len(inputs)
    return prompt


def renamed(prompt: SoftPrompt, name: str, kind: str) -> SoftPrompt:
    manifest = prompt.manifest.model_copy(update={"name": name, "kind": kind})
    return SoftPrompt(prompt.weight.detach().clone(), manifest)


def always(passes: bool, name: str = "scripted") -> PredicateCritic:
    return PredicateCritic(lambda t, i, a: (passes, "" if passes else "wrong"), name=name)
