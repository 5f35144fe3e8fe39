"""A tiny real model with prompts trained to known behaviour, so loop paths are deterministic
(see `tests/agent/graph/scripted.py`)."""

from __future__ import annotations

import pytest

from softloop.agent.graph import FixedPrompts
from softloop.prompts import FrozenLM, SoftPrompt
from tests.agent.graph.scripted import constant_prompt, renamed
from tests.prompts.models import make_lm


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
