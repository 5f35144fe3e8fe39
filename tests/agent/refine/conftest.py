"""A tiny model and a registry on each database for the refiner's tests; the task and its
feedback are in `tests/agent/refine/feedback.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from softloop.agent.registry import PromptRegistry
from softloop.agent.store import Store
from softloop.prompts import FrozenLM, SoftPrompt
from tests.prompts.models import make_lm


@pytest.fixture(scope="package")
def lm() -> FrozenLM:
    return make_lm("llama", seed=11)


@pytest.fixture
def registry(store: Store, lm: FrozenLM, tmp_path: Path) -> PromptRegistry:
    reg = PromptRegistry(store, lm, tmp_path / "prompts")
    weak = SoftPrompt.from_init(lm, 6, init="vocab", name="t", seed=4)
    reg.register(weak, status="active")
    return reg
