"""Initialisation strategies and the manifest a new prompt carries."""

from __future__ import annotations

import pytest
import torch

from softloop.prompts import FrozenLM, PromptManifest, SoftPrompt
from softloop.prompts.errors import ConfigError
from tests.prompts.models import Factory


def test_text_init_is_the_instructions_embeddings_tiled(lm: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(lm, 5, "text", text="ab")
    table = lm.embedding.weight
    ids = lm.tokenizer("ab", add_special_tokens=False)["input_ids"]
    expected = table[[ids[0], ids[1], ids[0], ids[1], ids[0]]].float()
    assert torch.equal(prompt.weight.detach(), expected)
    assert prompt.manifest.init == "text"
    assert prompt.manifest.extra["init_text"] == "ab"


def test_text_init_truncates_a_long_instruction(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "text", text="abcdef")
    ids = llama.tokenizer("ab", add_special_tokens=False)["input_ids"]
    assert torch.equal(prompt.weight.detach(), llama.embedding.weight[ids].float())


def test_vocab_init_samples_real_non_special_rows(lm: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(lm, 6, "vocab", seed=1)
    table = lm.embedding.weight.float()
    special = set(lm.tokenizer.all_special_ids)
    for row in prompt.weight.detach():
        matches = (table == row).all(dim=1).nonzero().flatten().tolist()
        assert matches and not set(matches) & special
    again = SoftPrompt.from_init(lm, 6, "vocab", seed=1)
    other = SoftPrompt.from_init(lm, 6, "vocab", seed=2)
    assert torch.equal(prompt.weight, again.weight)
    assert not torch.equal(prompt.weight, other.weight)


def test_random_init_matches_the_embedding_scale(lm: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(lm, 256, "random", seed=0)
    table = lm.embedding.weight.float()
    # initializer_range 0.3 gives std ~0.3, far from raw N(0, 1)'s 1.0.
    assert prompt.weight.std().item() == pytest.approx(table.std().item(), rel=0.25)
    assert prompt.weight.mean().item() == pytest.approx(table.mean().item(), abs=0.1)


def test_new_prompt_is_fp32_and_describes_its_model(arch: str, lm_factory: Factory) -> None:
    lm = lm_factory(arch)
    lm.model.to(torch.bfloat16)
    prompt = SoftPrompt.from_init(lm, 3, "vocab", name="rev", kind="critique", template="{input}?")
    assert prompt.weight.dtype == torch.float32 and prompt.weight.requires_grad
    assert prompt.embeds(lm.dtype, lm.device).dtype == torch.bfloat16
    m = prompt.manifest
    assert (m.name, m.kind, m.n_tokens, m.hidden_size) == ("rev", "critique", 3, 64)
    assert (m.base_model_id, m.base_fingerprint) == (lm.model_id, lm.fingerprint)
    assert m.template == "{input}?" and m.created_at.tzinfo is not None
    assert prompt.format("ab") == "ab?"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_tokens": 0}, "n_tokens=0"),
        ({"init": "text", "text": None}, "needs a non-empty text"),
        ({"init": "zeros"}, "'zeros' is not a strategy"),
        ({"template": "{question}"}, "single field {input}"),
        ({"template": "no field"}, "single field {input}"),
    ],
)
def test_bad_init_arguments_say_what_to_fix(llama: FrozenLM, kwargs: dict, fragment: str) -> None:
    args = {"n_tokens": 4, "init": "vocab", **kwargs}
    with pytest.raises(ConfigError, match=fragment.replace("{", r"\{").replace("}", r"\}")):
        SoftPrompt.from_init(llama, **args)


def test_manifest_rejects_a_weight_of_the_wrong_shape() -> None:
    manifest = PromptManifest(
        name="p", n_tokens=2, hidden_size=4, base_model_id="m", base_fingerprint="f", init="random"
    )
    with pytest.raises(ValueError, match="does not match"):
        SoftPrompt(torch.zeros(3, 4), manifest)
