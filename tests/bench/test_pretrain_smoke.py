"""The pre-training recipe runs end to end on a handful of steps and writes a loadable model."""

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from softloop.bench.pretrain import main

pytestmark = pytest.mark.slow  # trains and saves a model, however few steps


def test_smoke_run_writes_a_loadable_model_and_card(tmp_path):
    main(["--smoke", "--out", str(tmp_path)])
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert model.config.vocab_size == len(tok)
    stats = json.loads((tmp_path / "pretrain_stats.json").read_text())
    assert stats["config"]["steps"] == 6 and len(stats["own_output_rounds"]) == 1
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "## Data mixture" in card and "## Accuracy" in card
