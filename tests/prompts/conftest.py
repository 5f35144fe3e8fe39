"""Fixtures over the tiny random models of `tests/prompts/models.py`: one per architecture, a
factory, the tokenizer and a model saved as a user's model directory is."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from softloop.prompts import FrozenLM
from tests.prompts.models import ARCHS, Factory, char_tokenizer, make_lm, tiny_model


@pytest.fixture(params=ARCHS)
def arch(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def lm(arch: str) -> FrozenLM:
    return make_lm(arch)


@pytest.fixture
def llama() -> FrozenLM:
    return make_lm("llama")


@pytest.fixture
def lm_factory() -> Factory:
    return make_lm


@pytest.fixture
def tokenizer() -> PreTrainedTokenizerFast:
    return char_tokenizer()


@pytest.fixture
def saved_model(tmp_path: Path) -> Path:
    """A tiny Llama + tokenizer saved in Hugging Face format, as a user's model directory is."""
    tok = char_tokenizer()
    model = tiny_model("llama", len(tok))
    path = tmp_path / "tiny-llama"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
