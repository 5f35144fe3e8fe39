"""`softloop train`, `export-peft` and `import-peft` driven as a user would, via CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from softloop.agent.cli import cli
from softloop.agent.cli.options import CliContext
from softloop.bench.world import reference_world
from softloop.prompts import FrozenLM, SoftPrompt


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    rows = [{"input": k, "output": v} for k, v in {"ab": "x1", "cd": "y2"}.items()]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def invoke(*args: str) -> object:
    """`softloop ARGS` as installed: the reference world is the default model."""
    context = CliContext(world_factory=reference_world)
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, obj=context)


def test_train_saves_a_prompt_that_loads(saved_model: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "add"
    result = invoke(
        "train", "--model", str(saved_model), "--data", str(data), "--out", str(out),
        "--n-tokens", "4", "--init-text", "add:", "--template", "{input}=",
        "--steps", "3", "--lr", "0.1", "--dev", str(data),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained 'add': 3 steps" in result.output and f"saved to {out}" in result.output
    lm = FrozenLM.from_pretrained(str(saved_model))
    prompt = SoftPrompt.load(out, lm)
    assert prompt.n_tokens == 4 and prompt.manifest.init == "text"
    assert prompt.template == "{input}=" and "best_dev_loss" in prompt.manifest.metrics


def test_train_json_output(saved_model: Path, data: Path, tmp_path: Path) -> None:
    result = invoke(
        "train", "--model", str(saved_model), "--data", str(data),
        "--out", str(tmp_path / "p"), "--steps", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 2 and summary["init"] == "vocab" and summary["name"] == "p"


def test_bad_jsonl_line_is_one_clear_error(saved_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "output": "b"}\n\n{"input": "a"}\n')
    result = CliRunner().invoke(
        cli,
        ["train", "--model", str(saved_model), "--data", str(bad), "--out", str(tmp_path / "o")],
    )
    assert result.exit_code != 0
    assert "line 3" in result.output and '"output"' in result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0
    assert not (tmp_path / "o").exists()


def test_invalid_json_names_the_line(saved_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    result = CliRunner().invoke(
        cli,
        ["train", "--model", str(saved_model), "--data", str(bad), "--out", str(tmp_path / "o")],
    )
    assert result.exit_code != 0 and "line 1 is not valid JSON" in result.output


def test_text_init_without_text_is_a_usage_error(
    saved_model: Path, data: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        ["train", "--model", str(saved_model), "--data", str(data), "--out", str(tmp_path / "o"),
         "--init", "text"],
    )  # fmt: skip
    assert result.exit_code == 2 and "--init text needs --init-text" in result.output


def test_train_without_model_trains_for_the_embedded_reference_model(
    data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    result = invoke("train", "--data", str(data), "--out", str(out), "--steps", "2", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    # The reference model's stable id, whatever the install path, so the registry accepts it.
    assert manifest["base_model_id"] == "softloop/reference"
    assert manifest["hidden_size"] == 128


def test_peft_export_then_import(saved_model: Path, tmp_path: Path) -> None:
    lm = FrozenLM.from_pretrained(str(saved_model))
    prompt = SoftPrompt.from_init(lm, 3, "vocab", name="rev")
    prompt.save(tmp_path / "rev")
    exported = invoke("export-peft", str(tmp_path / "rev"), str(tmp_path / "peft"))
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "peft" / "adapter_model.safetensors").is_file()
    imported = invoke(
        "import-peft", str(tmp_path / "peft"), str(tmp_path / "back"), "--model", str(saved_model)
    )
    assert imported.exit_code == 0, imported.output
    back = SoftPrompt.load(tmp_path / "back", lm)
    assert back.manifest.name == "rev" and back.weight.equal(prompt.weight)


def test_import_of_a_non_adapter_is_one_line(saved_model: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        cli,
        ["import-peft", str(tmp_path / "empty"), str(tmp_path / "o"), "--model", str(saved_model)],
    )
    assert result.exit_code != 0 and "not a PEFT adapter directory" in result.output
    assert "Traceback" not in result.output
