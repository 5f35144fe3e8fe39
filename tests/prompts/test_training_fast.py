"""Training's fast options: length-bucketed batches and bf16 autocast still train the prompt."""

from __future__ import annotations

import pytest
import torch

from softloop.prompts import ConfigError, Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt

EXAMPLES = [Example("a" * (1 + i % 7), "xyz"[: 1 + i % 3]) for i in range(24)]


def quick(**kwargs: object) -> TrainConfig:
    return TrainConfig(**{"progress": False, "batch_size": 4, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("options", [{"bucket_by_length": True}, {"bf16": True}])
def test_fast_options_train_the_prompt_and_leave_the_base_alone(
    lm: FrozenLM, options: dict
) -> None:
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    prompt = SoftPrompt.from_init(lm, 4, "random")
    report = train_prompt(lm, prompt, EXAMPLES, config=quick(steps=30, lr=0.1, **options))
    assert sum(report.train_losses[-3:]) < sum(report.train_losses[:3])
    assert all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items())
    assert prompt.weight.dtype == torch.float32


def test_bucketed_training_is_seeded(llama: FrozenLM) -> None:
    def run(seed: int) -> torch.Tensor:
        prompt = SoftPrompt.from_init(llama, 4, "vocab")
        config = quick(steps=6, lr=0.1, seed=seed, bucket_by_length=True, bucket_pool=2)
        train_prompt(llama, prompt, EXAMPLES, config=config)
        return prompt.weight.detach()

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_bucket_pool_must_hold_a_batch() -> None:
    with pytest.raises(ConfigError, match="bucket_pool=0"):
        TrainConfig(bucket_pool=0)
