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
    assert len(stats["focus"]["own_output_rounds"]) == 2 and "Phase 3 (4 steps" in card


def test_phase_three_continues_a_saved_model_and_keeps_its_stats(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    main(["--smoke", "--focus-steps", "0", "--out", str(first)])
    assert "focus" not in json.loads((first / "pretrain_stats.json").read_text())
    main(["--smoke", "--from", str(first), "--out", str(second)])
    before = json.loads((first / "pretrain_stats.json").read_text())
    after = json.loads((second / "pretrain_stats.json").read_text())
    assert after["loss_curve"] == before["loss_curve"]  # phases 1 and 2 carried over
    assert after["focus"]["steps"] == 4 and after["config"]["focus_steps"] == 4
    assert after["train_seconds"] >= before["train_seconds"]
    a = AutoModelForCausalLM.from_pretrained(first).state_dict()
    b = AutoModelForCausalLM.from_pretrained(second).state_dict()
    assert any(not (a[k] == b[k]).all() for k in a)  # phase 3 trained the weights


def test_from_a_folder_without_stats_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--from", str(tmp_path), "--out", str(tmp_path / "out")])
    assert "no pretrain_stats.json" in str(exc.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args", [["--init-range", "0"], ["--steps", "0"], ["--init-range", "0.1", "--from", "."]]
)
def test_a_bad_setting_is_refused_in_one_line_before_any_work(tmp_path, args):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "out")])
    message = str(exit_info.value)
    assert message.startswith("error: ") and "\n" not in message
    assert not (tmp_path / "out").exists()
