"""`softloop task add`, `eval` and `train --dev` driven as a user would, on a tiny saved model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from softloop.agent.cli import cli

CHECK = "tests.agent.checks_for_tests:ends_in_digit"


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """softloop's own SQLite file under this test's $SOFTLOOP_HOME."""
    monkeypatch.delenv("SOFTLOOP_DATABASE_URL", raising=False)
    return {"SOFTLOOP_HOME": str(home), "SOFTLOOP_DATABASE_URL": None}


def run(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def jsonl(path: Path, n: int, offset: int = 0) -> Path:
    rows = [{"input": f"{i % 10}+{i % 7}", "output": str(i % 10 + i % 7)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[offset:]))
    return path


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return jsonl(tmp_path / "train.jsonl", 12), jsonl(tmp_path / "dev.jsonl", 18, offset=12)


def test_task_add_then_run_then_list_and_show(model_dir, data, env, tmp_path) -> None:
    train, dev = data
    added = run(
        env, "task", "add", "sum", "--model", str(model_dir), "--data", str(train),
        "--dev", str(dev), "--instruction", "add", "--check", CHECK, "--steps", "2",
        "--critique-steps", "2", "--n-tokens", "3", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    summary = json.loads(added.stdout)
    assert summary["task_prompt"] == "sum@1" and summary["critique_prompt"] == "sum-critique@1"
    assert (
        set(summary["dev"]) >= {"accuracy", "without_prompt", "n"} and summary["check"] == "python"
    )
    assert "training the critique prompt" in added.stderr

    ran = run(
        env, "run", "--model", str(model_dir), "--task", "sum", "--max-rounds", "1", "--json", "2+3"
    )
    assert ran.exit_code == 0, ran.output
    state = json.loads(ran.stdout)
    assert state["selection"]["critique"] == {"name": "sum-critique", "version": 1}
    first = state["attempts"][0]
    assert first["oracle_correct"] == first["output"][-1:].isdigit()

    refused = run(env, "run", "--model", str(model_dir), "--task", "sum", "--chat", "2+3")
    assert "does not use the chat template" in str(refused.exception)

    listed = run(env, "task", "list")
    assert listed.exit_code == 0 and listed.output.startswith("sum: python check")
    shown = json.loads(run(env, "task", "show", "sum", "--json").stdout)
    assert shown["check"]["spec"] == CHECK and shown["dev_examples"] == 6


def test_eval_reports_the_prompt_beside_its_instruction(model_dir, data, env, tmp_path) -> None:
    train, dev = data
    out = tmp_path / "p"
    trained = run(
        env, "train", "--model", str(model_dir), "--data", str(train), "--out", str(out),
        "--init-text", "add", "--steps", "2", "--dev", str(dev),
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert (
        "dev accuracy " in trained.stdout and "with the instruction as text: add" in trained.stdout
    )
    measured = run(
        env, "eval", "--model", str(model_dir), "--prompt", str(out), "--data", str(dev), "--json"
    )
    assert measured.exit_code == 0, measured.output
    report = json.loads(measured.stdout)
    assert set(report) == {"accuracy", "without_prompt", "n", "instruction"}
    assert report["n"] == 6 and report["instruction"] == "add"
    checked = run(
        env, "eval", "--model", str(model_dir), "--prompt", str(out), "--data", str(dev),
        "--check-regex", ".*", "--json",
    )  # fmt: skip
    assert json.loads(checked.stdout)["accuracy"] == 1.0  # everything matches


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["task", "add", "Bad/Name", "--data", "x.jsonl"], "not allowed"),
        (
            ["task", "add", "t", "--data", "x.jsonl", "--check", "a:b", "--check-regex", "x"],
            "one of",
        ),
        (
            ["task", "add", "t", "--data", "x.jsonl", "--check", "no_such_module_here:f"],
            "cannot import",
        ),
        (["eval", "--data", "x.jsonl"], "--prompt DIR"),
        (["eval", "--data", "x.jsonl", "--instruction", "x", "--check-regex", "("], "invalid"),
        (["train", "--data", "x.jsonl", "--out", "o", "--system", "s"], "--chat"),
        (["task", "show", "nope"], "no task called"),
    ],
)
def test_user_errors_are_one_line(env, args, error, capsys) -> None:
    from softloop.agent.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code != 0
    err = capsys.readouterr().err
    assert error in err and "Traceback" not in err and err.strip().count("\n") == 0, err


def test_task_add_registers_a_prompt_already_trained(model_dir, data, env, tmp_path) -> None:
    train, dev = data
    out = tmp_path / "trained"
    trained = run(
        env, "train", "--model", str(model_dir), "--data", str(train), "--out", str(out),
        "--init-text", "add", "--steps", "2",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    added = run(
        env, "task", "add", "plus", "--model", str(model_dir), "--prompt", str(out),
        "--data", str(train), "--dev", str(dev), "--critique-steps", "2", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "using the trained prompt as 'plus'" in added.stderr
    assert "training the task prompt" not in added.stderr
    summary = json.loads(added.stdout)
    assert summary["dev"]["instruction"] == "add" and summary["task_prompt"] == "plus@1"
    refused = run(
        env, "task", "add", "plus2", "--model", str(model_dir), "--prompt", str(out),
        "--data", str(train), "--chat",
    )  # fmt: skip
    assert "without the chat template" in str(refused.exception)
