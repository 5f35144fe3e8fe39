"""The prompt key/value cache gives what the uncached path gives, and refuses misuse."""

from __future__ import annotations

import pytest
import torch

from softloop.prompts import ConfigError, Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt


def test_cached_generation_equals_uncached(lm: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(lm, 5, "vocab", template="{input}=")
    prefix = lm.prefix_cache(prompt)
    inputs = ["ab", "cdefgh", "i"]
    expected = lm.generate(inputs, prompt, max_new_tokens=6)
    assert lm.generate(inputs, prefix=prefix, max_new_tokens=6) == expected
    # Reused: the cache is copied per call, never consumed.
    assert lm.generate(inputs, prompt, prefix=prefix, max_new_tokens=6) == expected
    assert lm.generate(inputs[1], prefix=prefix, max_new_tokens=6) == expected[1:2]


def test_cached_scores_equal_uncached(lm: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(lm, 4, "random", template="{input}?")
    prefix = lm.prefix_cache(prompt)
    inputs, targets = ["ab=1", "cdef=23", "g=4"], ["yes", "no", "yes"]
    expected = lm.score(inputs, targets, prompt)
    assert torch.allclose(lm.score(inputs, targets, None, prefix=prefix), expected, atol=1e-5)


def test_stale_or_foreign_cache_is_refused(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 3, "vocab")
    other = SoftPrompt.from_init(llama, 3, "vocab", seed=1)
    prefix = llama.prefix_cache(prompt)
    with pytest.raises(ConfigError, match="the prefix cache is for prompt"):
        llama.generate(["ab"], other, prefix=prefix)
    with pytest.raises(ConfigError, match="at least one token after the prompt"):
        llama.generate([""], prefix=prefix)
    train_prompt(llama, prompt, [Example("a", "b")], config=TrainConfig(steps=1, progress=False))
    with pytest.raises(ConfigError, match="changed since its prefix cache was built"):
        llama.generate(["ab"], prefix=prefix)
