"""PEFT interop: our export loads in PEFT with identical logits, and PEFT's own prompts import.

PEFT puts virtual tokens before BOS; softloop puts them after it by default. These tests build
the `FrozenLM` with `prompt_after_bos=False` so both sides see the same sequence and the logits
can be compared exactly (fp32, 1e-5).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

peft = pytest.importorskip("peft")

from softloop.prompts import FrozenLM, PromptFileError, SoftPrompt, export_peft, import_peft  # noqa: E402
from tests.prompts.models import Factory  # noqa: E402

INPUTS = ["ab", "cdef"]


def peft_logits(model: torch.nn.Module, lm: FrozenLM, text: str) -> torch.Tensor:
    ids = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits[0].float()  # (n_virtual + T, V)


def test_export_loads_in_peft_with_identical_logits(
    arch: str, lm_factory: Factory, tmp_path: Path
) -> None:
    lm = lm_factory(arch, prompt_after_bos=False)
    prompt = SoftPrompt.from_init(lm, 5, "text", text="add:", name="add")
    out = export_peft(prompt, tmp_path / "adapter")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "PROMPT_TUNING" and config["task_type"] == "CAUSAL_LM"
    assert (config["num_virtual_tokens"], config["token_dim"]) == (5, 64)
    assert config["num_transformer_submodules"] == 1 and config["num_layers"] == 2
    assert config["prompt_tuning_init"] == "RANDOM"  # no tokenizer path was vouched for
    with_path = export_peft(prompt, tmp_path / "text", base_model_name_or_path="/models/x")
    text_config = json.loads((with_path / "adapter_config.json").read_text())
    assert text_config["prompt_tuning_init"] == "TEXT"
    assert text_config["prompt_tuning_init_text"] == "add:"
    assert text_config["tokenizer_name_or_path"] == "/models/x"

    base = lm_factory(arch).model  # a fresh copy, so PEFT cannot touch ours
    peft_model = peft.PeftModel.from_pretrained(base, str(out)).eval()
    stored = peft_model.prompt_encoder["default"].embedding.weight
    assert torch.equal(stored.detach(), prompt.weight.detach())
    for text in INPUTS:
        ours = lm.logits([text], prompt)[0]
        assert torch.allclose(ours, peft_logits(peft_model, lm, text), atol=1e-5)


def test_round_trip_through_the_peft_format_is_lossless(llama: FrozenLM, tmp_path: Path) -> None:
    prompt = SoftPrompt.from_init(llama, 3, "vocab", name="rev", template="{input}=")
    back = import_peft(export_peft(prompt, tmp_path / "a"), llama)
    assert torch.equal(back.weight, prompt.weight)
    assert back.manifest == prompt.manifest
    assert import_peft(tmp_path / "a", name="renamed").manifest.name == "renamed"


def test_prompt_trained_by_peft_imports_with_identical_logits(
    arch: str, lm_factory: Factory, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    lm = lm_factory(arch, prompt_after_bos=False)
    config = peft.PromptTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=4, prompt_tuning_init="RANDOM"
    )
    peft_model = peft.get_peft_model(lm_factory(arch).model, config)
    optimiser = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=0.1)
    batch = lm.tokenizer(["ab=x1"], return_tensors="pt")
    for _ in range(5):
        loss = peft_model(**batch, labels=batch["input_ids"]).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    peft_model.eval()
    peft_model.save_pretrained(str(tmp_path / "peft"))

    prompt = import_peft(tmp_path / "peft", lm, name="from-peft")
    assert prompt.n_tokens == 4 and prompt.manifest.name == "from-peft"
    assert prompt.manifest.base_fingerprint == lm.fingerprint
    assert prompt.manifest.init == "random"
    for text in INPUTS:
        ours = lm.logits([text], prompt)[0]
        assert torch.allclose(ours, peft_logits(peft_model, lm, text), atol=1e-5)


def test_non_prompt_tuning_adapters_are_refused(llama: FrozenLM, tmp_path: Path) -> None:
    out = export_peft(SoftPrompt.from_init(llama, 2, "vocab"), tmp_path / "a")
    config = json.loads((out / "adapter_config.json").read_text())
    config["peft_type"] = "LORA"
    (out / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(PromptFileError, match="LORA adapter; only PROMPT_TUNING"):
        import_peft(out)
    with pytest.raises(PromptFileError, match="not a PEFT adapter directory"):
        import_peft(tmp_path / "missing")
