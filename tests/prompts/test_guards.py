"""The prompts layer's guards (issue 16): names, finite weights, context length, fingerprints.

Each of these once let a bad input through: a traversal name in a manifest, `NaN` weights in a
JSONL file (a NaN loss, a saved prompt that could not be loaded), a 1 MB example handed to the
model, a prompt made for one model silently steering another.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from softloop.agent.cli import cli
from softloop.prompts import (
    ConfigError,
    DataFileError,
    Example,
    FrozenLM,
    PromptFileError,
    PromptMismatchError,
    SoftPrompt,
    TrainConfig,
    read_jsonl,
    train_prompt,
)
from tests.prompts.models import make_lm

# --- 2: one naming rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["../../x", "a/b", "..", ".hidden", "", "Reverse", "a b", "a\x1bb", "x" * 65, "a\\b"]
)
def test_the_naming_rule_refuses_paths_and_oddities(bad: str) -> None:
    from softloop.prompts.names import InvalidNameError, check_name

    with pytest.raises(InvalidNameError):
        check_name(bad, "prompt name")


@pytest.mark.parametrize("good", ["reverse", "t", "const-revise", "a_b", "v2", "x" * 64])
def test_the_naming_rule_accepts_plain_names(good: str) -> None:
    from softloop.prompts.names import check_name

    assert check_name(good) == good


def test_a_manifest_with_a_traversal_name_is_refused_on_load(
    llama: FrozenLM, tmp_path: Path
) -> None:
    path = SoftPrompt.from_init(llama, 2, "vocab", name="ok").save(tmp_path / "p")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["name"] = "../../escape"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PromptFileError, match=r"name: .*'\.\./\.\./escape' is not allowed"):
        SoftPrompt.load(path)


def test_a_prompt_renamed_past_validation_is_not_saved(llama: FrozenLM, tmp_path: Path) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "vocab", name="ok")
    prompt.manifest = prompt.manifest.model_copy(update={"name": "a/b"})  # skips validation
    with pytest.raises(PromptFileError, match="manifest is invalid"):
        prompt.save(tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_text_a_database_cannot_hold_is_refused() -> None:
    from softloop.prompts.names import InvalidTextError, check_text

    with pytest.raises(InvalidTextError, match="NUL"):
        check_text("ab\x00c", "input")
    with pytest.raises(InvalidTextError, match="surrogate"):
        check_text("ab\ud800", "input")
    assert check_text("ünïcødé ✓ \x1b[0m", "input") == "ünïcødé ✓ \x1b[0m"


# --- 7: NaN or infinite weights ----------------------------------------------------------------


@pytest.mark.parametrize("weight", ["NaN", "Infinity", "-Infinity", "1e999", "10" * 200])
def test_non_finite_weights_are_refused_with_the_line(tmp_path: Path, weight: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"input": "a", "output": "b"}\n' + f'{{"input": "c", "output": "d", "weight": {weight}}}\n'
    )
    with pytest.raises(DataFileError, match=r"line 2 has \"weight\" .*finite non-negative"):
        read_jsonl(path)


def test_a_json_string_holding_a_line_separator_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"input": "a\u2028b", "output": "c"}, ensure_ascii=False) + "\n")
    assert read_jsonl(path) == [Example("a\u2028b", "c")]


def test_training_never_keeps_a_non_finite_prompt(llama: FrozenLM, tmp_path: Path) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "vocab", name="p")
    with pytest.raises(ConfigError, match="weight nan"):
        train_prompt(llama, prompt, [Example("a", "b", float("nan"))], config=_quick())
    with torch.no_grad():
        prompt.weight[0, 0] = float("inf")
    with pytest.raises(PromptFileError, match="NaN or infinite"):
        prompt.save(tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_softloop_train_refuses_nan_weights_and_saves_nothing(
    saved_model: Path, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"input": "ab", "output": "x", "weight": NaN}\n')
    out = tmp_path / "out"
    args = ["train", "--model", str(saved_model), "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--steps", "2"])
    assert result.exit_code != 0
    assert "line 1" in result.output and "finite" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


# --- 8: inputs longer than the model's context ---------------------------------------------


class _Forwards:
    """Counts the model's forward passes: the guards must refuse before the first."""

    def __init__(self, lm: FrozenLM, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = lm.model.forward

        def counted(*args: object, **kwargs: object) -> object:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(lm.model, "forward", counted)


def test_an_input_longer_than_the_context_is_refused_before_the_model_runs(
    llama: FrozenLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert llama.context_length == 128
    prompt = SoftPrompt.from_init(llama, 4, "vocab", name="p")
    forwards = _Forwards(llama, monkeypatch)
    with pytest.raises(ConfigError, match="more than the 128 tokens"):
        llama.generate(["a" * 100_000], prompt)
    with pytest.raises(ConfigError, match="more than the 128 tokens"):
        llama.score(["a" * 200], ["b"], prompt)
    with pytest.raises(ConfigError, match="no room for an answer"):
        llama.generate(["a" * (128 - 5)], prompt)  # BOS + 4 virtual tokens + 123 = 128
    assert forwards.calls == 0
    # Output stops at the end of the context instead of running past it.
    [out] = llama.generate(["a" * 100], prompt, max_new_tokens=64)
    assert len(out) <= 128 - 105


def test_a_training_example_longer_than_the_context_is_refused_before_training(
    llama: FrozenLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt = SoftPrompt.from_init(llama, 4, "vocab", name="p")
    forwards = _Forwards(llama, monkeypatch)
    train = [Example("ab", "c"), Example("x" * 1_000_000, "y")]
    with pytest.raises(ConfigError, match=r"training example 2 is \d+ tokens long"):
        train_prompt(llama, prompt, train, config=_quick())
    assert forwards.calls == 0


# --- 15: a prompt made for another model -----------------------------------------------------


def test_a_prompt_made_for_another_model_is_refused_at_use() -> None:
    made_for, other = make_lm("llama", seed=0), make_lm("llama", seed=1)
    prompt = SoftPrompt.from_init(made_for, 4, "vocab", name="p")  # same shape, other weights
    assert made_for.generate(["ab"], prompt, max_new_tokens=2)
    for use in (
        lambda: other.generate(["ab"], prompt, max_new_tokens=2),
        lambda: other.score(["ab"], ["c"], prompt),
        lambda: other.loss(["ab"], ["c"], prompt),
        lambda: other.next_token_logprobs(["ab"], prompt),
        lambda: train_prompt(other, prompt, [Example("a", "b")], config=_quick()),
    ):
        with pytest.raises(PromptMismatchError, match="was made for model tiny-llama-0"):
            use()


# --- 12: an empty fingerprint is said ---------------------------------------------------------


def test_loading_a_prompt_without_a_fingerprint_warns(
    llama: FrozenLM, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = SoftPrompt.from_init(llama, 2, "vocab", name="p").save(tmp_path / "p")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["base_fingerprint"] = ""
    (path / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="softloop.prompts"):
        SoftPrompt.load(path, llama)
    assert "has no base-model fingerprint" in caplog.text


def _quick() -> TrainConfig:
    return TrainConfig(steps=2, progress=False)
