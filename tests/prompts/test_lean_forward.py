"""The lean forward pass computes what the model's own forward computes: to the last bit up to
the output layer, and the same greedy tokens."""

from __future__ import annotations

import pytest
import torch

from softloop.prompts import FrozenLM, SoftPrompt
from softloop.prompts.decode_batch import Sampling, Span
from softloop.prompts.generation import start
from tests.prompts.models import make_lm

INPUTS = ["ab", "hello world", "x", "a longer input of text 12"]
TARGETS = ["cd", "ok", "yes please", "z"]


def _pair(arch: str) -> tuple[FrozenLM, FrozenLM]:
    """The same model twice: lean where it qualifies, and through the model's own forward."""
    lean = make_lm(arch)
    plain = FrozenLM(lean.model, lean.tokenizer, model_id=lean.model_id, lean=False)
    return lean, plain


def _prompts(lm: FrozenLM) -> list[SoftPrompt]:
    return [
        SoftPrompt.from_init(lm, n, init="random", name=f"p{n}", seed=n, template="{input}=")
        for n in (3, 5)
    ]


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal but for the output layer's rounding (a batch's kept positions in one product)."""
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-5)


def test_llama_family_qualifies_and_gpt2_does_not() -> None:
    assert make_lm("llama").lean and make_lm("qwen2").lean
    assert not make_lm("gpt2").lean


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_scores_match_the_models_forward(arch: str) -> None:
    """Padded rows, two prompts in one batch, with and without their cached prefixes (to the
    output layer's rounding); a lone row to the last bit."""
    lean, plain = _pair(arch)
    p, q = _prompts(lean)
    mixed = [p, q, p, q]
    _close(lean.score(INPUTS, TARGETS, mixed), plain.score(INPUTS, TARGETS, mixed))
    cached = lean.prefix_cache(p)
    got = lean.score(INPUTS, TARGETS, p, prefix=cached)
    want = plain.score(INPUTS, TARGETS, p, prefix=plain.prefix_cache(p))
    _close(got, want)
    one = lean.next_token_logprobs(INPUTS[:1], p)
    assert torch.equal(one, plain.next_token_logprobs(INPUTS[:1], p))


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_training_gradients_match_the_models_forward(arch: str, padding_side) -> None:
    lean, plain = _pair(arch)
    grads = []
    for lm in (lean, plain):
        prompt = _prompts(lm)[0]
        prompt.weight.requires_grad_(True)
        loss = lm.loss(INPUTS, TARGETS, prompt, padding_side=padding_side)
        loss.backward()
        grads.append((loss.detach(), prompt.weight.grad.clone()))
    _close(grads[0][0], grads[1][0])
    _close(grads[0][1], grads[1][1])


def test_lean_scores_depend_on_the_prompt() -> None:
    """Not a pass that ignores what it is given: another prompt, other scores."""
    lean = make_lm("llama")
    p, q = _prompts(lean)
    assert not torch.equal(lean.score(INPUTS, TARGETS, p), lean.score(INPUTS, TARGETS, q))


def test_weights_loaded_after_wrapping_are_the_ones_the_lean_pass_reads() -> None:
    """The lean pass looks the weights up once; loading a state dict (or moving the model)
    changes those same parameters, so it computes with the new ones."""
    lean, plain = _pair("llama")
    p = _prompts(lean)[0]
    before = lean.score(INPUTS, TARGETS, p)
    _close(before, plain.score(INPUTS, TARGETS, p))
    other = make_lm("llama", seed=7).model.state_dict()
    lean.model.load_state_dict(other)
    after = lean.score(INPUTS, TARGETS, p)
    assert not torch.equal(after, before)
    _close(after, plain.score(INPUTS, TARGETS, p))


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_generation_matches_the_models_forward_token_for_token(arch: str) -> None:
    """Greedy and seeded sampling, mixed prompts in one batch, a cached prefix, a lone row."""
    lean, plain = _pair(arch)
    p, q = _prompts(lean)
    mixed = [p, q, None, p]
    for lm_kwargs in (
        {"prompts": mixed},
        {"prompts": mixed, "do_sample": True, "temperature": 1.5, "seed": 3},
    ):
        got = lean.generate(INPUTS, max_new_tokens=8, **lm_kwargs)
        assert got == plain.generate(INPUTS, max_new_tokens=8, **lm_kwargs)
    got = lean.generate(INPUTS, p, max_new_tokens=8, prefix=lean.prefix_cache(p))
    assert got == plain.generate(INPUTS, p, max_new_tokens=8, prefix=plain.prefix_cache(p))
    assert lean.generate(INPUTS[:1], q, 8) == plain.generate(INPUTS[:1], q, 8)


def test_a_lone_row_on_a_cached_prefix_scores_as_the_models_forward() -> None:
    """No padding at all: the mask is built from the cache offset, not left out."""
    lean, plain = _pair("llama")
    p, _ = _prompts(lean)
    got = lean.score(INPUTS[1:2], TARGETS[1:2], p, prefix=lean.prefix_cache(p))
    want = plain.score(INPUTS[1:2], TARGETS[1:2], p, prefix=plain.prefix_cache(p))
    assert torch.equal(got, want)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_decoding_steps_keep_the_models_keys_and_values_bit_for_bit(arch: str) -> None:
    """Not only the same tokens: at prefill and at every step after it, with padding (uneven
    rows run packed; grouped keys and values under a mask) and a cached prefix, the same keys
    and values at every position a row attends to, and logits that differ at most by the
    output layer's rounding (its kept positions are one matrix product, not one per row)."""
    lean, plain = _pair(arch)
    p, q = _prompts(lean)
    spans = [Span(0, len(INPUTS), Sampling(max_new_tokens=4))]
    for prefixed in (False, True):
        batches = []
        for lm in (lean, plain):
            prefix = lm.prefix_cache(p) if prefixed else None
            kwargs, _ = lm.inference_kwargs(INPUTS, p if prefixed else [p, q, p, q], prefix=prefix)
            batches.append(start(lm, kwargs, spans))
        for _ in range(3):
            mine, theirs = batches
            torch.testing.assert_close(mine.logits, theirs.logits, rtol=0, atol=1e-5)
            seen = mine.mask.bool()[:, None, :, None]  # (B, 1, C, 1): pads are never read
            for (k1, v1), (k2, v2) in zip(mine._layers(), theirs._layers(), strict=True):
                assert torch.equal(k1 * seen, k2 * seen) and torch.equal(v1 * seen, v2 * seen)
            picked = [b.pick() for b in batches]
            assert picked[0] == picked[1] and mine.feed == theirs.feed
            for b in batches:
                b.advance()


def test_a_wrapped_linear_layer_sends_passes_through_the_models_forward() -> None:
    """A layer that computes more than its weight (quantized, an adapter) is not plain."""

    class Scaled(torch.nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * super().forward(x)

    lm = make_lm("llama")
    old = lm.model.model.layers[0].mlp.up_proj
    wrapped = Scaled(old.in_features, old.out_features, bias=False)
    wrapped.weight = old.weight
    lm.model.model.layers[0].mlp.up_proj = wrapped
    again = FrozenLM(lm.model, lm.tokenizer, model_id=lm.model_id)
    assert not again.lean
