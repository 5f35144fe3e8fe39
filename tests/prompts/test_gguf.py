"""GGUF files load once through transformers' converter, then from a safetensors copy.

transformers' GGUF reader is stood in for by a tiny model marked quantised the way the reader
leaves it (the real file is exercised by the slow real-model test).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import transformers

from softloop.prompts import FrozenLM, SoftloopError, SoftPrompt
from softloop.prompts.gguf import MARKER, converted_dir, file_sha256, is_gguf
from tests.prompts.models import char_tokenizer, tiny_model


class _Marked:
    quant_method = "gguf"


@pytest.fixture
def fake_reader(monkeypatch) -> list[str]:
    """Route `gguf_file=` loads to a tiny model marked quantised; return the files read."""
    read: list[str] = []
    model_load = transformers.AutoModelForCausalLM.from_pretrained
    tok_load = transformers.AutoTokenizer.from_pretrained

    def load_model(path, *args, gguf_file=None, **kwargs):
        if gguf_file is None:
            return model_load(path, *args, **kwargs)
        read.append(gguf_file)
        model = tiny_model("llama", len(char_tokenizer()))
        model.config.quantization_config = _Marked()
        model.hf_quantizer = object()
        model.is_quantized = True
        return model

    def load_tokenizer(path, *args, gguf_file=None, **kwargs):
        return char_tokenizer() if gguf_file is not None else tok_load(path, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", load_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", load_tokenizer)
    return read


def test_a_gguf_file_is_converted_once_and_read_from_its_copy_after(
    fake_reader, tmp_path: Path, capsys
) -> None:
    gguf = tmp_path / "My Model.Q4_1.gguf"
    gguf.write_bytes(b"GGUF not really")
    cache = tmp_path / "models"
    first = FrozenLM.from_pretrained(gguf, cache_dir=cache)
    said = capsys.readouterr().err
    assert said.count("converting") == 1 and said[-1] == "\n" and said.count("\n") == 1
    copy = converted_dir(gguf, file_sha256(gguf), cache)
    assert copy.parent == cache and copy.name.startswith("my-model.q4_1-")
    assert (copy / MARKER).is_file() and (copy / "model.safetensors").is_file()
    assert fake_reader == [gguf.name]

    second = FrozenLM.from_pretrained(gguf, cache_dir=cache)
    assert fake_reader == [gguf.name], "the second load reads the copy"
    assert "converting" not in capsys.readouterr().err
    assert second.fingerprint == first.fingerprint
    assert second.model_id == str(gguf)
    prompt = SoftPrompt.from_init(first, 2, "vocab")
    assert second.generate("ab", prompt, max_new_tokens=4) == first.generate(
        "ab", prompt, max_new_tokens=4
    )


def test_the_copy_follows_the_content_not_the_path(fake_reader, tmp_path: Path) -> None:
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert converted_dir(a, file_sha256(a), tmp_path) != converted_dir(b, file_sha256(b), tmp_path)
    moved = tmp_path / "sub" / "a.gguf"
    moved.parent.mkdir()
    moved.write_bytes(b"one")
    assert converted_dir(moved, file_sha256(moved), tmp_path) == converted_dir(
        a, file_sha256(a), tmp_path
    )


def test_a_missing_gguf_file_is_one_line(tmp_path: Path) -> None:
    assert is_gguf("x/Model.GGUF") and not is_gguf("x/model")
    with pytest.raises(SoftloopError, match="no GGUF file"):
        FrozenLM.from_pretrained(tmp_path / "absent.gguf", cache_dir=tmp_path)


def test_the_cache_defaults_to_softloop_home(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path))
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x")
    assert converted_dir(f, "ab" * 32).parent == tmp_path / "models"
