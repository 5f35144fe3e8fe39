"""Property: a row's score never depends on its batch-mates, its prompt's length or padding side."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softloop.prompts import FrozenLM, SoftPrompt
from tests.prompts.models import make_lm

TEXT = st.text(alphabet="abcdefgh0123=", min_size=1, max_size=9)


@pytest.fixture(scope="module")
def world() -> tuple[FrozenLM, list[SoftPrompt | None]]:
    lm = make_lm("qwen2")
    prompts = [
        None,
        SoftPrompt.from_init(lm, 1, "vocab", template="{input}="),
        SoftPrompt.from_init(lm, 6, "random", seed=2),
    ]
    return lm, prompts


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(TEXT, TEXT, st.integers(0, 2)), min_size=1, max_size=4))
def test_row_results_are_independent_of_the_batch(
    world: tuple[FrozenLM, list[SoftPrompt | None]], rows: list[tuple[str, str, int]]
) -> None:
    lm, choices = world
    inputs = [r[0] for r in rows]
    targets = [r[1] for r in rows]
    prompts = [choices[r[2]] for r in rows]
    batched = lm.score(inputs, targets, prompts)
    alone = torch.cat(
        [lm.score([i], [t], p) for i, t, p in zip(inputs, targets, prompts, strict=True)]
    )
    assert torch.allclose(batched, alone, atol=1e-4)
    with torch.no_grad():
        left = lm.loss(inputs, targets, prompts, padding_side="left")
        right = lm.loss(inputs, targets, prompts, padding_side="right")
    assert torch.allclose(left, right, atol=1e-5)
