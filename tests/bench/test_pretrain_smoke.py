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
    "args",
    [
        ["--init-range", "0"],
        ["--steps", "0"],
        ["--init-range", "0.1", "--from", "."],
        ["--pair-init", "random", "--card"],
    ],
)
def test_a_bad_setting_is_refused_in_one_line_before_any_work(tmp_path, args):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "out")])
    message = str(exit_info.value)
    assert message.startswith("error: ") and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_training_reads_the_tokens_the_model_meets_when_used():
    # The recipe must see pair tokens exactly where the tokenizer puts them: a model trained on
    # one spelling and used with another learns nothing of use.
    import random

    from softloop.bench import mixture
    from softloop.bench.pretrain import encode_batch
    from softloop.bench.tokenizer import PAIRS, build_tokenizer

    tok = build_tokenizer()
    rng = random.Random(0)
    examples = [mixture.sample_example(rng, mixture.PHASE1) for _ in range(64)]
    ids, labels, _ = encode_batch(examples, tok)
    for (q, t), row, lab in zip(examples, ids.tolist(), labels.tolist(), strict=True):
        want = tok(q + t)["input_ids"] + [tok.eos_token_id]
        assert row[: len(want)] == want
        assert [x for x in lab if x != -100] == tok(t, add_special_tokens=False)["input_ids"] + [
            tok.eos_token_id
        ]
    pair_ids = set(tok.convert_tokens_to_ids(list(PAIRS)))
    assert pair_ids & set(ids.flatten().tolist())  # the batch holds pair tokens at all


def test_a_pair_token_starts_out_as_its_two_letters_in_order():
    import torch

    from softloop.bench.pretrain import PretrainConfig, build_model, compose_pair_embeddings
    from softloop.bench.tokenizer import build_tokenizer

    tok = build_tokenizer()
    model = build_model(PretrainConfig(init_range=0.1, hidden=32, mlp=64, layers=1), len(tok))
    emb = model.get_input_embeddings().weight
    before = emb.detach().clone()
    state = torch.random.get_rng_state()
    compose_pair_embeddings(model, tok, seed=0)
    assert torch.equal(state, torch.random.get_rng_state())
    ab, ba, a, b, c = tok.convert_tokens_to_ids(["ab", "ba", "a", "b", "c"])

    def cos(u: int, v: int) -> float:
        return torch.cosine_similarity(emb[u], before[v], dim=0).item()

    assert cos(ab, a) > 0.4 and abs(cos(ab, c)) < 0.4  # `ab` holds a, not c
    assert cos(ba, b) > 0.4  # and `ba` starts with b
    assert torch.equal(emb[a], before[a])  # letters and other rows untouched
    assert not torch.allclose(emb[ab], emb[ba])  # the order of the letters shows
