"""The task suite: generators agree with their oracles, perturbations are caught, splits hold."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softloop.bench import TASKS, get_task
from softloop.bench.mixture import corrupt, draw_train
from softloop.prompts.errors import SoftloopError

task_names = st.sampled_from(sorted(TASKS))


def test_at_least_six_tasks_with_sane_difficulties():
    assert len(TASKS) >= 6
    for t in TASKS.values():
        assert 1 <= t.easy_difficulty < t.default_difficulty <= t.max_difficulty, t.name
        assert t.instruction and ":" not in t.instruction


@settings(max_examples=200, deadline=None)
@given(name=task_names, seed=st.integers(0, 2**32), data=st.data())
def test_checker_accepts_the_generated_answer(name, seed, data):
    task = get_task(name)
    d = data.draw(st.integers(1, task.max_difficulty + 2))
    x, y = task.generate(random.Random(seed), d)
    assert task.check(x, y)
    assert task.solve(x) == y


@settings(max_examples=200, deadline=None)
@given(name=task_names, seed=st.integers(0, 2**32), data=st.data())
def test_checker_rejects_perturbations_and_hints_say_why(name, seed, data):
    task = get_task(name)
    d = data.draw(st.integers(1, task.max_difficulty))
    rng = random.Random(seed)
    x, y = task.generate(rng, d)
    wrong = corrupt(rng, task, x, y)
    assert not task.check(x, wrong)
    hint = task.hint(x, wrong)
    assert hint and hint != "ok" and len(hint) <= 16


@settings(max_examples=100, deadline=None)
@given(name=task_names, seed=st.integers(0, 2**32), extra=st.text(min_size=1, max_size=3))
def test_checker_rejects_appended_text(name, seed, extra):
    task = get_task(name)
    x, y = task.generate(random.Random(seed), task.default_difficulty)
    assert not task.check(x, y + extra)
    assert not task.check(x, y[:-1])


@pytest.mark.parametrize("name", sorted(TASKS))
def test_splits_are_deterministic_disjoint_and_labelled(name):
    task = get_task(name)
    splits = {s: task.split(s, 60, seed=3) for s in ("train", "dev", "test")}
    assert splits["test"] == task.split("test", 60, seed=3)
    inputs = {s: {x for x, _ in v} for s, v in splits.items()}
    assert not inputs["test"] & (inputs["train"] | inputs["dev"])
    assert not inputs["train"] & inputs["dev"]
    for s, pairs in splits.items():
        assert len(pairs) == 60 and len(inputs[s]) == 60  # distinct
        assert all(task.split_of(x) == s and task.check(x, y) for x, y in pairs)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_pretraining_draws_only_train_inputs(name):
    task = get_task(name)
    rng = random.Random(0)
    assert all(task.split_of(draw_train(rng, task)[0]) == "train" for _ in range(200))


def test_tiny_input_spaces_return_what_exists():
    double = get_task("double")
    pairs = double.split("test", 1000, difficulty=2)  # 100 inputs in all, ~10 in test
    assert 0 < len(pairs) < 30
    assert len({x for x, _ in pairs}) == len(pairs)


def test_unknown_names_are_clear_errors():
    with pytest.raises(SoftloopError, match=r"unknown task 'nope'.*reverse"):
        get_task("nope")
    with pytest.raises(SoftloopError, match="unknown split"):
        get_task("reverse").split("val", 3)
    with pytest.raises(SoftloopError, match="difficulty"):
        get_task("reverse").split("test", 3, difficulty=0)


def test_doubt_hint_speaks_each_tasks_hint_words() -> None:
    from softloop.bench.tasks import doubt_hint
    from softloop.critics import Doubt

    def doubt(token: str, preferred: str) -> Doubt:
        return Doubt(offset=1, token=token, preferred=preferred, probability=0.2)

    # Numbers: the digit the model would rather have written says which way the answer is off.
    assert doubt_hint("double", doubt("3", "5")) == "too small"
    assert doubt_hint("double", doubt("8", "2")) == "too big"
    assert doubt_hint("vowels", doubt("", "1")) == "too small"  # ended before a digit it expected
    assert doubt_hint("double", doubt("4", "")) == "too big"  # one digit more than it expected
    assert doubt_hint("vowels", doubt("x", "4")) == "not a number"
    # Strings: where, as the string tasks' hints say it.
    assert doubt_hint("reverse", doubt("q", "r")) == "at 2"
    assert doubt_hint("sort", doubt("", "z")) == "too short"
    assert doubt_hint("dedup", doubt("a", "")) == "too long"
    assert doubt_hint("upper", doubt("B", "A")) == "at 2"
    for name in ("double", "vowels"):
        assert doubt_hint(name, doubt("3", "5")) in {"too small", "too big", "not a number"}


def test_the_task_suite_imports_without_torch() -> None:
    # `from bench import TASKS` is how a user reads the tasks; it must not pay for torch.
    import subprocess
    import sys

    code = "import sys, bench; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
