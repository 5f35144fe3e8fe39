"""The frozen model: loading, freezing, fingerprint, and loss/score under mixed prompts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from softloop.prompts import FrozenLM, SoftloopError, SoftPrompt
from tests.prompts.models import Factory


def test_from_pretrained_loads_and_freezes(saved_model: Path) -> None:
    lm = FrozenLM.from_pretrained(str(saved_model))
    assert not lm.model.training
    assert all(not p.requires_grad for p in lm.model.parameters())
    assert lm.model_id == str(saved_model)
    assert lm.hidden_size == 64 and lm.dtype == torch.float32
    assert lm.bos_ids == [lm.tokenizer.bos_token_id]
    assert len(lm.fingerprint) == 16
    int(lm.fingerprint, 16)


def test_from_pretrained_takes_a_dtype(saved_model: Path) -> None:
    lm = FrozenLM.from_pretrained(str(saved_model), dtype="bfloat16")
    assert lm.dtype == torch.bfloat16
    prompt = SoftPrompt.from_init(lm, 2, "vocab")
    assert torch.isfinite(lm.loss(["ab"], ["c"], prompt))


def test_from_pretrained_missing_model_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SoftloopError, match=r"no model at .*nope; pass a folder"):
        FrozenLM.from_pretrained(str(tmp_path / "nope"))
    # A hub id that is not in the cache, with no hub to fetch it from, is one line too (not the
    # hub client's retries).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SoftloopError, match="'org/not-a-model' is not in the local Hugging Face"):
        FrozenLM.from_pretrained("org/not-a-model")


def test_fingerprint_tells_weights_apart(lm_factory: Factory) -> None:
    a, b, a2 = lm_factory("llama", seed=0), lm_factory("llama", seed=1), lm_factory("llama", seed=0)
    assert a.fingerprint == a2.fingerprint != b.fingerprint


def test_loss_is_differentiable_only_wrt_the_prompt(lm: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(lm, 4, "vocab")
    loss = lm.loss(["ab", "cde"], ["1", "23"], prompt)
    loss.backward()
    assert prompt.weight.grad is not None and prompt.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in lm.model.parameters())


def test_left_and_right_padding_give_the_same_loss(lm: FrozenLM) -> None:
    p = SoftPrompt.from_init(lm, 3, "vocab", template="{input}=")
    q = SoftPrompt.from_init(lm, 6, "random", seed=1)
    args = (["a", "bcdefg", "hi"], ["12345", "6", "78"], [p, q, None])
    left = lm.loss(*args, padding_side="left")
    right = lm.loss(*args, padding_side="right")
    assert torch.allclose(left, right, atol=1e-5)


def test_mixed_prompt_batch_scores_equal_per_row_scores(lm: FrozenLM) -> None:
    p = SoftPrompt.from_init(lm, 2, "vocab", template="{input}=")
    q = SoftPrompt.from_init(lm, 7, "random", seed=3)
    inputs, targets, prompts = ["ab", "cdefgh", "ij"], ["yes", "no", "maybe"], [p, q, None]
    batched = lm.score(inputs, targets, prompts)
    alone = torch.cat(
        [lm.score([i], [t], pr) for i, t, pr in zip(inputs, targets, prompts, strict=True)]
    )
    assert torch.allclose(batched, alone, atol=1e-5)


def test_score_is_the_sum_of_target_logprobs_without_eos(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "vocab")
    [score] = llama.score(["ab"], ["cd"], prompt).tolist()
    logits = llama.logits(["ab"], prompt)[0]  # (T, V) of [BOS][prompt]ab
    first = torch.log_softmax(logits[-1], -1)
    c, d = llama.tokenizer("cd", add_special_tokens=False)["input_ids"]
    logits_c = llama.logits(["abc"], prompt)[0, -1]
    expected = first[c] + torch.log_softmax(logits_c, -1)[d]
    assert score == pytest.approx(expected.item(), abs=1e-4)


def test_weights_scale_each_examples_loss(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "vocab")
    la = llama.loss(["ab"], ["1"], prompt)
    lb = llama.loss(["cd"], ["234"], prompt)
    weighted = llama.loss(["ab", "cd"], ["1", "234"], prompt, weights=[3.0, 1.0])
    assert weighted.item() == pytest.approx(((3 * la + lb) / 4).item(), abs=1e-5)
    with pytest.raises(SoftloopError, match="one non-negative number per example"):
        llama.loss(["ab", "cd"], ["1", "2"], prompt, weights=[1.0])


def test_prompt_goes_after_bos_by_default(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 3, "vocab")
    batch = llama.batch(llama.rows(["ab"], prompt))
    emb = llama.embedding.weight
    assert torch.equal(batch.inputs_embeds[0, 0], emb[llama.tokenizer.bos_token_id])
    assert torch.equal(batch.inputs_embeds[0, 1:4], prompt.weight.detach())
    before = FrozenLM(llama.model, llama.tokenizer, prompt_after_bos=False)
    batch = before.batch(before.rows(["ab"], prompt))
    assert torch.equal(batch.inputs_embeds[0, :3], prompt.weight.detach())
    assert torch.equal(batch.inputs_embeds[0, 3], emb[llama.tokenizer.bos_token_id])


def test_wrong_number_of_prompts_is_refused(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "vocab")
    with pytest.raises(SoftloopError, match="got 1 prompts for 2 inputs"):
        llama.generate(["a", "b"], [prompt])


def test_prompt_of_another_width_is_refused(llama: FrozenLM) -> None:
    manifest = SoftPrompt.from_init(llama, 2, "vocab").manifest.model_copy(
        update={"hidden_size": 32}
    )
    narrow = SoftPrompt(torch.zeros(2, 32), manifest)
    with pytest.raises(SoftloopError, match="hidden size 32 but this model has 64"):
        llama.generate("ab", narrow)


def test_public_api_is_exported() -> None:
    import softloop.prompts as prompts

    contract = {
        "SoftPrompt",
        "PromptManifest",
        "FrozenLM",
        "train_prompt",
        "TrainConfig",
        "TrainReport",
        "Example",
        "export_peft",
        "import_peft",
        "SoftloopError",
    }
    assert contract <= set(prompts.__all__)
    assert all(hasattr(prompts, name) for name in prompts.__all__)


def test_token_choices_agree_with_token_logprobs_and_the_models_argmax(llama) -> None:
    prompt = SoftPrompt.from_init(llama, 3, init="vocab", seed=4)
    inputs, targets = ["ab", "c"], ["xyz", "q"]
    choices = llama.token_choices(inputs, targets, prompt)
    picked, mask = llama.token_logprobs(inputs, targets, prompt)
    assert torch.equal(choices.mask, mask)
    assert torch.allclose(choices.logprobs, picked, atol=1e-6)
    assert (choices.top_logprobs >= choices.logprobs - 1e-6).all()
    # The top token is the argmax of the logits over `input + target`: the last len(target) + 1
    # positions of each left-padded row predict the target's tokens and then EOS.
    logits = llama.logits([x + t for x, t in zip(inputs, targets, strict=True)], prompt)
    for i, t in enumerate(targets):
        want = logits[i, -(len(t) + 1) :].argmax(-1)
        assert choices.top_ids[i][mask[i]].tolist() == want.tolist()
