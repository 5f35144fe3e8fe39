"""Inference reuses each prompt's cached prefix by itself, and gives what the plain path gives."""

from __future__ import annotations

import pytest
import torch

from softloop.prompts import ConfigError, Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt
from softloop.prompts.prefix_cache import PrefixCacheConfig

INPUTS = ["ab", "cdefgh", "i", "jk0=", "lmn", "12345678"]


def twins(lm: FrozenLM) -> tuple[FrozenLM, FrozenLM]:
    """The same model with the automatic cache (forced on) and without it."""
    auto = FrozenLM(lm.model, lm.tokenizer, prefix_config=PrefixCacheConfig(min_saved_work=0))
    plain = FrozenLM(lm.model, lm.tokenizer, prefix_config=PrefixCacheConfig(auto=False))
    return auto, plain


def mixed_prompts(lm: FrozenLM) -> list[SoftPrompt | None]:
    p = SoftPrompt.from_init(lm, 3, "vocab", template="{input}=")
    q = SoftPrompt.from_init(lm, 8, "random", seed=4, template="{input}?")
    return [p, q, None, p, q, p]


def test_greedy_generation_is_identical_with_and_without_the_cache(lm: FrozenLM) -> None:
    auto, plain = twins(lm)
    prompts = mixed_prompts(lm)
    assert auto.generate(INPUTS, prompts, max_new_tokens=8) == plain.generate(
        INPUTS, prompts, max_new_tokens=8
    )
    assert len(auto.prefix_store) == 2  # one cache per prompt, none for the prompt-less row
    assert len(plain.prefix_store) == 0
    for text, prompt in zip(INPUTS, prompts, strict=True):  # and alone, batch of one
        assert auto.generate(text, prompt, max_new_tokens=6) == plain.generate(
            text, prompt, max_new_tokens=6
        )


def test_seeded_sampling_is_identical_with_and_without_the_cache(lm: FrozenLM) -> None:
    auto, plain = twins(lm)
    prompts = mixed_prompts(lm)
    kwargs = {"do_sample": True, "temperature": 1.3, "seed": 11, "max_new_tokens": 8}
    assert auto.generate(INPUTS, prompts, **kwargs) == plain.generate(INPUTS, prompts, **kwargs)


def test_scores_and_token_choices_agree_with_the_plain_path(lm: FrozenLM) -> None:
    auto, plain = twins(lm)
    prompts = mixed_prompts(lm)
    targets = ["x", "yz", "", "xyzzy", "q", "12"]
    assert torch.allclose(
        auto.score(INPUTS, targets, prompts), plain.score(INPUTS, targets, prompts), atol=1e-4
    )
    a, b = (
        auto.token_choices(INPUTS, targets, prompts),
        plain.token_choices(INPUTS, targets, prompts),
    )
    assert torch.equal(a.mask, b.mask) and torch.equal(a.top_ids, b.top_ids)
    assert torch.allclose(a.logprobs, b.logprobs, atol=1e-4)
    assert torch.allclose(
        auto.next_token_logprobs(INPUTS, prompts),
        plain.next_token_logprobs(INPUTS, prompts),
        atol=1e-4,
    )


def test_a_changed_prompt_gets_a_new_cache(llama: FrozenLM) -> None:
    auto, plain = twins(llama)
    prompt = SoftPrompt.from_init(llama, 4, "vocab", template="{input}=")
    before = auto.generate(INPUTS, prompt, max_new_tokens=6)
    train_prompt(
        llama, prompt, [Example("ab", "zz")], config=TrainConfig(steps=3, lr=0.5, progress=False)
    )
    after = auto.generate(INPUTS, prompt, max_new_tokens=6)
    assert after == plain.generate(INPUTS, prompt, max_new_tokens=6)
    assert after != before, "training at lr 0.5 should change a random model's answers"


def test_training_never_goes_through_the_cache(llama: FrozenLM) -> None:
    auto, plain = twins(llama)
    prompt = SoftPrompt.from_init(llama, 4, "vocab")
    auto.generate(INPUTS, prompt.requires_grad_(False), max_new_tokens=2)  # a cache exists
    prompt.requires_grad_(True)
    grads = []
    for model in (auto, plain):
        prompt.weight.grad = None
        model.loss(INPUTS, ["1"] * len(INPUTS), prompt).backward()
        assert prompt.weight.grad is not None
        grads.append(prompt.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_a_call_where_the_cache_saves_too_little_runs_plain(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "vocab")
    saved = (len(llama.bos_ids) + 2) * llama.position_params  # one row's prefix
    config = PrefixCacheConfig(min_saved_work=2 * saved)
    lm = FrozenLM(llama.model, llama.tokenizer, prefix_config=config)
    lm.score(["abcdefgh"], ["x"], prompt)
    assert len(lm.prefix_store) == 0
    lm.score(["abcdefgh", "ij"], ["x", "y"], prompt)  # two rows save enough
    assert len(lm.prefix_store) == 1


def test_config_names_the_bad_value() -> None:
    with pytest.raises(ConfigError, match="min_saved_work=-1"):
        PrefixCacheConfig(min_saved_work=-1)


def test_a_hook_registered_after_the_batch_was_built_still_gets_the_same_logits(
    llama: FrozenLM,
) -> None:
    # The lean pass reads the prefixes as per-layer tensors; where a forward hook sends the
    # pass back through the model's forward, they become the model's cache object.
    auto, plain = twins(llama)
    prompts = mixed_prompts(llama)
    targets = ["x"] * len(INPUTS)
    seen: list[bool] = []
    with torch.no_grad():  # inference: with a gradient to a prompt, no cache is used
        kwargs, _ = auto.rows_kwargs(auto.rows(INPUTS, prompts, targets))
        assert isinstance(kwargs[auto.cache_arg], tuple)  # lean: no cache object was built
        lean = auto.forward_logits(kwargs, logits_to_keep=2)
        handle = llama.model.register_forward_hook(lambda *_: seen.append(True))
        try:
            hooked = auto.forward_logits(kwargs, logits_to_keep=2)
        finally:
            handle.remove()
        plain_kwargs, _ = plain.rows_kwargs(plain.rows(INPUTS, prompts, targets))
        want = plain.forward_logits(plain_kwargs, logits_to_keep=2)
    assert seen and torch.allclose(lean, hooked, atol=1e-5)
    assert torch.allclose(want, lean, atol=1e-4)
