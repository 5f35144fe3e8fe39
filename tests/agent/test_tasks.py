"""A user's own tasks: stored checks and labels, the loop's per-task critics, `add_task`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from softloop.agent.setup import open_setup
from softloop.agent.task_builder import TaskOptions, add_task
from softloop.agent.tasks import (
    LazyChecks,
    TaskCheckSpec,
    TaskError,
    TaskRegistry,
    TaskSpec,
    critique_name,
)
from softloop.critics import CritiqueRequest, recorded_marks
from softloop.critics.task_checks import ByTask, as_oracle, load_check, verdict
from softloop.prompts import ConfigError, Example, SoftloopError
from softloop.prompts.names import InvalidNameError
from tests.prompts.models import char_tokenizer, tiny_model

HERE = "tests.agent.checks_for_tests"


def ask(task: str, answer: str, input: str = "x") -> CritiqueRequest:
    return CritiqueRequest(task=task, input=input, answer=answer)


def test_the_three_kinds_of_check() -> None:
    assert verdict(load_check("python", f"{HERE}:ends_in_digit"), "x", "a1") == (True, "")
    assert verdict(load_check("python", f"{HERE}:explains"), "ab", "ba") == (False, "expected ab")
    assert verdict(load_check("python", f"{HERE}:explodes"), "x", "1") == (
        False,
        "check raised RuntimeError",
    )
    regex = load_check("regex", r"\d+")
    assert verdict(regex, "x", " 42 ")[0] and not verdict(regex, "x", "4a")[0]
    schema = json.dumps(
        {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    )
    check = load_check("schema", schema)
    assert verdict(check, "x", '{"n": 3}') == (True, "")
    assert verdict(check, "x", '{"n": "3"}') == (False, "n: '3' is not of type 'integer'")
    assert verdict(check, "x", "{")[0] is False


@pytest.mark.parametrize(
    ("kind", "spec", "error"),
    [
        ("python", "no_such_module_here:f", "cannot import"),
        ("python", "json", "module:function"),
        ("python", "json:nothing_here", "not a function"),
        ("regex", "(", "invalid"),
        ("schema", "{", "not JSON"),
        ("schema", '{"type": 3}', "invalid"),
        ("shell", "rm", "unknown"),
    ],
)
def test_a_bad_check_is_one_line_at_once(kind: str, spec: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as info:
        load_check(kind, spec)
    assert "\n" not in str(info.value)


def test_by_task_judges_each_request_by_its_own_check() -> None:
    critic = ByTask({"num": load_check("regex", r"\d+")})
    a, b, c = critic.critique_batch([ask("num", "12"), ask("num", "x"), ask("other", "x")])
    assert a.passed and a.score == 1.0 and a.critic == "check:num"
    assert not b.passed and b.score == 0.0 and "match" in b.feedback
    assert c.passed and c.score == 1.0  # no check: the learned critic decides
    oracle = as_oracle({"num": load_check("regex", r"\d+")})
    assert oracle("num", "x", "7") is True and oracle("other", "x", "7") is None


def test_tasks_are_stored_whole_and_read_back(tmp_path: Path) -> None:
    registry = TaskRegistry(tmp_path / "tasks")
    spec = TaskSpec(
        name="add",
        label="add two numbers",
        check=TaskCheckSpec(kind="regex", spec=r"\d+"),
        critique=critique_name("add"),
        base_fingerprint="f" * 16,
    )
    registry.save(spec, [Example("1+2", "3")], [Example("t:1+2=3", "yes")])
    assert registry.names() == ["add"]
    assert registry.load("add") == spec
    assert registry.dev("add") == [Example("1+2", "3")]
    assert registry.critique_dev("add") == [Example("t:1+2=3", "yes")]
    assert [s.name for s in registry.all("f" * 16)] == ["add"]
    assert registry.all("0" * 16) == []
    (registry.folder("add") / "task.json").write_text("{broken")
    assert registry.all() == []  # logged and left out, never a crash
    with pytest.raises(TaskError, match="cannot be read"):
        registry.load("add")


@pytest.mark.parametrize("name", ["../x", "a/b", "Up", "x" * 60, ""])
def test_task_names_follow_the_rule_and_leave_room_for_the_critic(tmp_path, name) -> None:
    with pytest.raises((InvalidNameError, TaskError)):
        TaskRegistry(tmp_path).folder(name)


def test_lazy_checks_fail_only_the_task_whose_check_is_gone() -> None:
    checks = LazyChecks(
        {
            "ok": TaskCheckSpec(kind="regex", spec=r"\d"),
            "gone": TaskCheckSpec(kind="python", spec="no_such_module_here:f"),
        }
    )
    critic = ByTask(checks)
    assert critic.critique_batch([ask("ok", "1")])[0].passed
    with pytest.raises(SoftloopError, match="cannot import"):
        critic.critique_batch([ask("gone", "1")])


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    tok = char_tokenizer()
    path = tmp_path / "tiny-llama"
    tiny_model("llama", len(tok), seed=3).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def examples(n: int, offset: int = 0) -> list[Example]:
    return [
        Example(f"{i % 10}+{(i * 3) % 10}", str(i % 10 + (i * 3) % 10))
        for i in range(offset, offset + n)
    ]


def test_add_task_registers_both_prompts_and_the_loop_runs_the_task(
    model_dir, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("SOFTLOOP_DATABASE_URL", raising=False)
    home, db = tmp_path / "home", None  # softloop's own SQLite file under home
    setup = open_setup(str(model_dir), db, home)
    options = TaskOptions(
        instruction="sum",
        check=TaskCheckSpec(kind="regex", spec=r"\d+"),
        n_tokens=4,
        steps=3,
        critique_steps=3,
    )
    lines: list[str] = []
    result = add_task(setup, "sum", examples(12), examples(6, 40), options, say=lines.append)
    setup.close()
    assert result.task_version == 1 and result.critique_version == 1
    assert result.eval is not None and result.eval.n == 6
    assert result.own_answers >= 18 and result.critic is not None
    assert any(line.startswith("dev accuracy") for line in lines)
    assert result.confidence["reduce"] in ("min", "mean")

    # A new process: the task's check, label and critique prompt come back from the data dir.
    again = open_setup(str(model_dir), db, home)
    try:
        assert again.registry.critique_for("sum") == "sum-critique"
        assert again.task_labels["sum"] == "sum"
        assert again.oracle is not None and again.oracle("sum", "1+2", "3") is True
        assert again.oracle("sum", "1+2", "three") is False
        assert len(again.eval_sets.tasks["sum"]) == 6
        again.check_task("sum")
        row, critique = again.registry.active_prompt("sum-critique")
        assert recorded_marks(critique) == ("yes", "no")  # the char tokenizer's words
        assert critique.manifest.extra["task"] == "sum"
        assert "critic_threshold" in row.metrics and "critic_balanced_accuracy" in row.metrics
        final = again.graph().invoke({"task": "sum", "input": "1+2", "max_rounds": 2})
        first = final["attempts"][0]
        assert first.oracle_correct == bool(first.output.strip().isdigit())
        if first.output.strip().isdigit():
            assert first.critique.critic != "check:sum"  # the check passed it on
        else:
            assert first.critique.critic == "check:sum" and not first.critique.passed
    finally:
        again.close()
