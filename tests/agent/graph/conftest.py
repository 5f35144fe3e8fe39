"""A tiny real model with prompts trained to known behaviour, so loop paths are deterministic.

A random tiny model's outputs are arbitrary, which makes "the revision repeats an earlier
answer" or "the critic passes" unpredictable. Prompts trained to answer a constant make them
certain while every model call stays real.
"""

from __future__ import annotations

import pytest

from softloop.agent.graph import FixedPrompts
from softloop.critics import PredicateCritic
from softloop.prompts import Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt
from tests.prompts.conftest import make_lm

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


@pytest.fixture(scope="package")
def lm() -> FrozenLM:
    return make_lm("llama", seed=5)


@pytest.fixture(scope="package")
def const_prompts(lm: FrozenLM) -> FixedPrompts:
    """Task and revise prompts that both always answer `7`."""
    task = constant_prompt(lm, "7", "const")
    return FixedPrompts(task=task, revise=renamed(task, "const-revise", "revise"))


@pytest.fixture(scope="package")
def free_prompts(lm: FrozenLM) -> FixedPrompts:
    """Untrained prompts: arbitrary but seeded answers, so revisions differ from attempts."""
    return FixedPrompts(
        task=SoftPrompt.from_init(lm, 4, init="vocab", name="free", seed=2),
        revise=SoftPrompt.from_init(lm, 4, init="vocab", name="free-revise", kind="revise", seed=3),
    )


def always(passes: bool, name: str = "scripted") -> PredicateCritic:
    return PredicateCritic(lambda t, i, a: (passes, "" if passes else "wrong"), name=name)
