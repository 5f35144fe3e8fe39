"""Arguments and files are checked before the model loads, and every error is one `error:` line.

Each case names a model that does not exist: the command can only answer with the error under
test if it checked that first (loading would fail, in other words, on the model).
"""

from __future__ import annotations

from pathlib import Path

from tests.agent.cli.driver import softloop


def _one_error_line(result, starts: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {starts}"), result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_data_file_is_reported_before_the_model(tmp_path: Path) -> None:
    result = softloop(
        "train",
        "--model",
        "org/not-a-model",
        "--data",
        str(tmp_path / "none.jsonl"),
        "--out",
        str(tmp_path / "p"),
        home=tmp_path,
        db_url=None,
    )
    _one_error_line(result, f"cannot read {tmp_path / 'none.jsonl'}")


def test_bad_json_in_eval_data_is_reported_before_the_model(tmp_path: Path) -> None:
    data = tmp_path / "dev.jsonl"
    data.write_text('{"input": "a", "output": "b"}\nnot json\n')
    result = softloop(
        "eval",
        "--model",
        "org/not-a-model",
        "--instruction",
        "x",
        "--data",
        str(data),
        home=tmp_path,
        db_url=None,
    )
    _one_error_line(result, f"{data}, line 2 is not valid JSON")


def test_a_folder_that_is_not_a_prompt_is_reported_before_the_model(tmp_path: Path) -> None:
    data = tmp_path / "dev.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n')
    result = softloop(
        "eval",
        "--model",
        "org/not-a-model",
        "--prompt",
        str(tmp_path),
        "--data",
        str(data),
        home=tmp_path,
        db_url=None,
    )
    _one_error_line(result, f"{tmp_path} is not a prompt directory")


def test_a_model_path_that_does_not_exist_is_named_in_softloops_words(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    result = softloop(
        "run", "--model", str(missing), "--task", "t", "x", home=tmp_path, db_url=None
    )
    _one_error_line(result, f"no model at {missing}")


def test_an_unknown_task_of_the_reference_world_is_refused_before_the_model(
    tmp_path: Path,
) -> None:
    result = softloop("run", "--task", "no-such-task", "x", home=tmp_path, db_url=None)
    _one_error_line(result, "unknown task 'no-such-task'; the known tasks are: ")
    assert "path" in result.stderr


def test_usage_errors_use_the_same_error_style(tmp_path: Path) -> None:
    result = softloop("run", "--no-such-option", home=tmp_path, db_url=None)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: No such option")
