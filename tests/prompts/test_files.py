"""Saved prompts: round trip, atomic writes, and every way a file can be wrong."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from softloop.prompts import FrozenLM, PromptFileError, PromptMismatchError, SoftPrompt
from tests.prompts.models import Factory


@pytest.fixture
def saved(llama: FrozenLM, tmp_path: Path) -> tuple[SoftPrompt, Path]:
    prompt = SoftPrompt.from_init(llama, 4, "text", text="add:", name="add", template="{input}=")
    prompt.manifest.metrics["accuracy"] = 0.5
    return prompt, prompt.save(tmp_path / "add")


def test_round_trip_keeps_weights_and_manifest(
    saved: tuple[SoftPrompt, Path], llama: FrozenLM
) -> None:
    prompt, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "prompt.safetensors"]
    loaded = SoftPrompt.load(path, llama)
    assert torch.equal(loaded.weight, prompt.weight)
    assert loaded.manifest == prompt.manifest
    assert loaded.weight.requires_grad
    assert SoftPrompt.load(path / "prompt.safetensors").manifest.name == "add"
    # A loaded prompt steers the model exactly as the original did.
    assert llama.generate("ab", loaded, max_new_tokens=4) == llama.generate(
        "ab", prompt, max_new_tokens=4
    )


def test_save_replaces_whole_and_leaves_no_temporaries(
    saved: tuple[SoftPrompt, Path], llama: FrozenLM
) -> None:
    _, path = saved
    (path / "stale.txt").write_text("old")
    newer = SoftPrompt.from_init(llama, 2, "vocab", name="add")
    newer.save(path)
    assert SoftPrompt.load(path).n_tokens == 2
    assert not (path / "stale.txt").exists()
    assert [p.name for p in path.parent.iterdir()] == ["add"]


def test_failed_save_leaves_the_old_directory(
    saved: tuple[SoftPrompt, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt, path = saved
    import softloop.prompts.files as files

    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files, "save_file", explode)
    with pytest.raises(OSError, match="disk full"):
        prompt.save(path)
    assert torch.equal(SoftPrompt.load(path).weight, prompt.weight)
    assert [p.name for p in path.parent.iterdir()] == ["add"]


def test_prompt_for_another_model_is_refused_in_one_sentence(
    saved: tuple[SoftPrompt, Path], lm_factory: Factory
) -> None:
    _, path = saved
    other = lm_factory("llama", seed=1)
    with pytest.raises(PromptMismatchError) as err:
        SoftPrompt.load(path, other)
    message = str(err.value)
    assert "this prompt was trained for model tiny-llama-0" in message
    assert (
        other.fingerprint in message and "retrain it or load the model it was made for" in message
    )
    assert message.count(". ") == 0 and "\n" not in message


def test_hidden_size_mismatch_is_refused(
    saved: tuple[SoftPrompt, Path], lm_factory: Factory
) -> None:
    _, path = saved
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["hidden_size"] = 32
    (path / "manifest.json").write_text(json.dumps(manifest))
    save_file({"prompt": torch.zeros(4, 32)}, str(path / "prompt.safetensors"))
    with pytest.raises(PromptMismatchError, match="hidden size 32 but model tiny-llama-0 has 64"):
        SoftPrompt.load(path, lm_factory("llama"))


def test_wrong_shape_is_refused(saved: tuple[SoftPrompt, Path]) -> None:
    _, path = saved
    save_file({"prompt": torch.zeros(5, 64)}, str(path / "prompt.safetensors"))
    with pytest.raises(PromptFileError, match=r"shape \(5, 64\) but its manifest says \(4, 64\)"):
        SoftPrompt.load(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(saved: tuple[SoftPrompt, Path], bad: float) -> None:
    _, path = saved
    weight = torch.zeros(4, 64)
    weight[1, 3] = bad
    save_file({"prompt": weight}, str(path / "prompt.safetensors"))
    with pytest.raises(PromptFileError, match="1 NaN or infinite values"):
        SoftPrompt.load(path)


def test_truncated_file_is_refused(saved: tuple[SoftPrompt, Path]) -> None:
    _, path = saved
    weights = path / "prompt.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(PromptFileError, match="truncated or corrupt"):
        SoftPrompt.load(path)


def test_pickle_files_are_never_loaded(saved: tuple[SoftPrompt, Path], tmp_path: Path) -> None:
    _, path = saved
    torch.save({"prompt": torch.zeros(4, 64)}, path / "prompt.safetensors")
    with pytest.raises(PromptFileError, match=r"torch\.save file, which softloop never loads"):
        SoftPrompt.load(path)
    weights = path / "prompt.safetensors"
    weights.write_bytes(pickle.dumps({"prompt": [0.0]}))
    with pytest.raises(PromptFileError, match="never loads"):
        SoftPrompt.load(path)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    torch.save(torch.zeros(4, 64), legacy / "prompt.pt")
    with pytest.raises(PromptFileError, match=r"holds prompt\.pt but no prompt\.safetensors"):
        SoftPrompt.load(legacy)
    with pytest.raises(PromptFileError, match="pickle-format file"):
        SoftPrompt.load(legacy / "prompt.pt")


def test_missing_or_broken_manifest(saved: tuple[SoftPrompt, Path], tmp_path: Path) -> None:
    _, path = saved
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(PromptFileError, match="not a valid prompt manifest"):
        SoftPrompt.load(path)
    (path / "manifest.json").unlink()
    with pytest.raises(PromptFileError, match=r"manifest\.json is missing"):
        SoftPrompt.load(path)
    with pytest.raises(PromptFileError, match="no prompt directory"):
        SoftPrompt.load(tmp_path / "nowhere")


def test_unknown_tensor_names_are_refused(saved: tuple[SoftPrompt, Path]) -> None:
    _, path = saved
    save_file({"prompt_embeddings": torch.zeros(4, 64)}, str(path / "prompt.safetensors"))
    with pytest.raises(PromptFileError, match="for a PEFT adapter use import_peft"):
        SoftPrompt.load(path)
