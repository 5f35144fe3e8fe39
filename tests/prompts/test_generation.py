"""The decode loop: batched equals one-by-one, seeded sampling, stop strings."""

from __future__ import annotations

import pytest
import torch

from softloop.prompts import FrozenLM, SoftloopError, SoftPrompt
from softloop.prompts.microbatch import MicroBatchLM


def test_mixed_prompt_batch_generates_what_each_row_does_alone(lm: FrozenLM) -> None:
    p = SoftPrompt.from_init(lm, 3, "vocab", template="{input}=")
    q = SoftPrompt.from_init(lm, 8, "random", seed=4, template="{input}?")
    inputs = ["ab", "cdefghij", "k", "lm"]
    prompts = [p, q, None, p]
    batched = lm.generate(inputs, prompts, max_new_tokens=8)
    alone = [lm.generate(i, pr, max_new_tokens=8)[0] for i, pr in zip(inputs, prompts, strict=True)]
    assert batched == alone
    assert all(isinstance(t, str) for t in batched)


def test_one_prompt_for_every_row(llama: FrozenLM) -> None:
    p = SoftPrompt.from_init(llama, 3, "vocab")
    assert llama.generate(["ab", "cd"], p, max_new_tokens=5) == llama.generate(
        ["ab", "cd"], [p, p], max_new_tokens=5
    )


def test_seeded_sampling_is_reproducible(lm: FrozenLM) -> None:
    p = SoftPrompt.from_init(lm, 3, "vocab")
    kwargs = {"do_sample": True, "temperature": 1.5, "max_new_tokens": 12}
    first = lm.generate(["ab", "cd"], p, seed=7, **kwargs)
    assert lm.generate(["ab", "cd"], p, seed=7, **kwargs) == first
    others = [lm.generate(["ab", "cd"], p, seed=s, **kwargs) for s in range(8, 11)]
    assert any(o != first for o in others)


def test_top_k_one_is_greedy(llama: FrozenLM) -> None:
    greedy = llama.generate("abc", max_new_tokens=8)
    assert llama.generate("abc", do_sample=True, top_k=1, seed=0, max_new_tokens=8) == greedy


def test_max_new_tokens_and_stop_strings(llama: FrozenLM) -> None:
    [full] = llama.generate("abc", max_new_tokens=10)
    assert len(llama.generate("abc", max_new_tokens=3)[0]) <= 3
    assert len(full) >= 4, "a random model should not emit EOS at once"
    stop = full[2:4]
    [cut] = llama.generate("abc", max_new_tokens=10, stop=stop)
    assert cut == full[: full.find(stop)]
    [never] = llama.generate("abc", max_new_tokens=10, stop=["@@"])
    assert never == full
    # A stop string at the very start ends the row at once, with empty output.
    assert llama.generate("abc", max_new_tokens=10, stop=[full[0], "@@"]) == [""]


def test_a_row_stops_at_eos_while_others_go_on(llama: FrozenLM) -> None:
    plain = llama.generate(["abc", "d"], max_new_tokens=5)
    eos, calls = llama.tokenizer.eos_token_id, []

    def force_eos_on_row_0(
        module: torch.nn.Module, args: tuple, output: torch.Tensor
    ) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:  # prefill, step 1, then step 2 emits EOS for row 0 only
            output = output.clone()
            output[0, :, eos] = 1e4
        return output

    hook = llama.model.get_output_embeddings().register_forward_hook(force_eos_on_row_0)
    try:
        out = llama.generate(["abc", "d"], max_new_tokens=5)
    finally:
        hook.remove()
    assert out == [plain[0][:2], plain[1]]


def test_min_new_tokens_holds_eos_back(llama: FrozenLM) -> None:
    inputs = ["abc", "d"]
    want = llama.generate(inputs, max_new_tokens=3, min_new_tokens=3)
    eos = llama.tokenizer.eos_token_id

    def force_eos(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[..., eos] = 1e4  # EOS is every row's first choice at every step
        return output

    hook = llama.model.get_output_embeddings().register_forward_hook(force_eos)
    try:
        ended = llama.generate(inputs, max_new_tokens=6)
        held = llama.generate(inputs, max_new_tokens=6, min_new_tokens=3)
        with MicroBatchLM(llama) as batcher:
            batched = batcher.generate(inputs, max_new_tokens=6, min_new_tokens=3)
    finally:
        hook.remove()
    assert ended == ["", ""]
    # Held back for three steps, each row takes the model's best other token, then ends.
    assert held == batched == want and all(want)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens=0"),
        ({"max_new_tokens": 3, "min_new_tokens": 4}, "min_new_tokens=4"),
        ({"do_sample": True, "temperature": 0.0}, "temperature=0.0"),
        ({"do_sample": True, "top_k": 0}, "top_k=0"),
    ],
)
def test_bad_generation_settings(llama: FrozenLM, kwargs: dict, fragment: str) -> None:
    with pytest.raises(SoftloopError, match=fragment):
        llama.generate("ab", **kwargs)
