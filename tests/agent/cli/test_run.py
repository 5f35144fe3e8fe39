"""`softloop run`: one request through the loop on a user's model, on both databases."""

from __future__ import annotations

import json
import subprocess

import pytest

from softloop.agent.cli import main
from softloop.agent.store import DatabaseUnavailableError, Store
from tests.agent.cli.driver import TASK, invoke, softloop


def test_run_prints_the_trajectory_and_a_run_id_that_show_finds(
    store: Store, registered, model_dir
) -> None:
    result = invoke(store, "run", "--model", str(model_dir), "--task", TASK, "abc")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"task {TASK}") and f"{TASK}@1" in lines[0]
    assert lines[1] == "input: abc"
    assert lines[2].startswith("attempt 1  [t@1]")
    assert lines[3].startswith("  → ")
    assert lines[4].split()[0] in ("PASS", "FAIL")
    assert lines[-3].startswith("final: ") and lines[-2].startswith("status: ")
    run_id = lines[-1].split()[1]

    shown = invoke(store, "show", run_id[:8])
    assert shown.exit_code == 0, shown.output
    assert f"run {run_id}" in shown.output and "input: abc" in shown.output
    stored = store.get_run(run_id)
    assert lines[-3].split("  (")[0] == f"final: {stored.final_output}"
    assert sum(line.startswith("attempt ") for line in lines) == stored.rounds


def test_run_json_is_the_final_state(store: Store, registered, model_dir) -> None:
    result = invoke(
        store, "run", "--model", str(model_dir), "--task", TASK, "--max-rounds", "1", "--json", "x1"
    )
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert state["input"] == "x1" and state["status"] in ("passed", "gave_up")
    assert len(state["attempts"]) == 1 and state["max_rounds"] == 1
    assert state["selection"]["task"] == {"name": TASK, "version": 1}
    assert store.get_run(state["run_id"]).final_output == state["final_output"]


def test_confidence_option_sets_or_leaves_out_the_confidence_critic(
    store: Store, registered, model_dir
) -> None:
    def first_critic(*extra: str) -> str:
        args = ("run", "--model", str(model_dir), "--task", TASK, "--max-rounds", "1", "--json")
        result = invoke(store, *args, *extra, "x1")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["attempts"][0]["critique"]

    # A critique prompt with nothing recorded against it is trusted: it judges alone by default
    # and with --confidence 0; with a threshold, the task prompt's confidence judges first, and
    # an untrained prompt is unsure enough to fail the answer before the critique prompt reads it.
    assert first_critic()["critic"] == "critique@1"
    assert first_critic("--confidence", "0")["critic"] == "critique@1"
    assert first_critic("--confidence", "0.99")["critic"] == f"confidence:{TASK}@1"
    assert invoke(store, "run", "--confidence", "1.5", "--task", TASK, "x").exit_code == 2


def test_unknown_task_is_one_line_and_exit_1(store: Store, registered, model_dir, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--db", store.url, "--model", str(model_dir), "--task", "nope", "abc"])
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: no active prompt for task 'nope' (known tasks: {TASK}); train one with "
        "`softloop train` and register it with `softloop prompts add DIR --active`"
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_model_without_a_critique_prompt_says_how_to_add_one(
    store: Store, model_dir, prompt_dirs, home
) -> None:
    model = ["--model", str(model_dir)]
    invoke(store, "prompts", "add", str(prompt_dirs[TASK]), "--active", *model)
    result = invoke(store, "run", *model, "--task", TASK, "abc")
    assert result.exit_code == 1
    assert "no active 'critique' prompt" in str(result.exception)
    assert "softloop prompts add DIR --kind critique --active" in str(result.exception)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_store_outage_keeps_the_answer_and_warns(
    store: Store, registered, model_dir, home, monkeypatch
) -> None:
    def down(self, record):
        raise DatabaseUnavailableError("cannot reach the database (test)")

    monkeypatch.setattr(Store, "record_run", down)
    result = invoke(store, "run", "--model", str(model_dir), "--task", TASK, "abc")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "run not stored"
    assert result.stderr.startswith("warning: run ") and "was not stored" in result.stderr
    assert (home / "unsaved-runs.jsonl").is_file()


def test_the_embedded_default_works_on_a_fresh_install(tmp_path) -> None:
    def fresh(*args: str) -> subprocess.CompletedProcess:
        return softloop(*args, home=tmp_path / "home", db_url=None, timeout=300)

    done = fresh("run", "--task", "path", "a d;ab bc cd")
    assert done.returncode == 0, done.stderr
    assert "input: a d;ab bc cd" in done.stdout and "oracle: " in done.stdout
    assert done.stdout.splitlines()[-1].startswith("run ")
    done = fresh("run", "--task", "nope", "abc")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: unknown task 'nope'; "
        "the known tasks are: diff, gap, path, sum, triangle, via"
    ]
