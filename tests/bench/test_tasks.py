"""The task suite: generators agree with their oracles, steps are local, splits hold."""

import os
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softloop.bench import TASKS, get_task
from softloop.bench.graphs import parse
from softloop.bench.mixture import corrupt, draw_train
from softloop.prompts.errors import SoftloopError

task_names = st.sampled_from(sorted(TASKS))


def test_at_least_six_tasks_with_sane_difficulties():
    assert len(TASKS) >= 6
    for t in TASKS.values():
        assert t.min_train_difficulty <= t.easy_difficulty < t.default_difficulty, t.name
        assert t.default_difficulty <= t.max_difficulty, t.name
        assert t.instruction and ":" not in t.instruction


@settings(max_examples=200, deadline=None)
@given(name=task_names, seed=st.integers(0, 2**32), data=st.data())
def test_the_generated_answer_and_the_solvers_both_pass(name, seed, data):
    task = get_task(name)
    d = data.draw(st.integers(task.min_train_difficulty, task.max_difficulty))
    x, y = task.generate(random.Random(seed), d)
    assert task.check(x, y)
    assert task.check(x, task.solve(x))
    assert all(step.ok for step in task.steps(x, y))


@settings(max_examples=200, deadline=None)
@given(name=task_names, seed=st.integers(0, 2**32), data=st.data())
def test_a_perturbed_answer_fails_a_step_and_the_hint_names_it(name, seed, data):
    task = get_task(name)
    d = data.draw(st.integers(task.min_train_difficulty, task.max_difficulty))
    rng = random.Random(seed)
    x, y = task.generate(rng, d)
    wrong = corrupt(rng, task, x, y)
    assert not task.check(x, wrong)
    failed = [s for s in task.steps(x, wrong) if not s.ok]
    assert failed and task.hint(x, wrong) == f"no {failed[0].claim}".rstrip()


@settings(max_examples=200, deadline=None)
@given(name=task_names, seed=st.integers(0, 2**32), answer=st.text(max_size=12))
def test_claims_are_plain_letters_or_digits_whatever_the_answer(name, seed, answer):
    # A critic's passing trace is the target with fail marks turned into pass marks: that is
    # only exact when no claim holds a mark or a separator.
    task = get_task(name)
    x, _ = task.generate(random.Random(seed), task.default_difficulty)
    steps = task.steps(x, answer)
    assert steps
    assert all(s.claim == "" or (s.claim.isascii() and s.claim.isalnum()) for s in steps)


def test_steps_are_the_local_checks_the_docs_describe():
    path = get_task("path")
    assert [tuple(s) for s in path.steps("a d;ab bd cd", "abd")] == [
        ("a", True),
        ("ab", True),
        ("bd", True),
        ("d", True),
    ]
    assert [s.ok for s in path.steps("a d;ab bd cd", "acd")] == [True, False, True, True]
    assert path.check("a d;ab bd cd", "abdcd")  # a walk may revisit nodes
    assert not path.check("a d;ab bd cd", "bd")
    assert path.check("ad;ab bd cd", "abd")  # ends written as one pair still parse
    tri = get_task("triangle")
    assert tri.check("ab bc ca cd", "cab") and not tri.check("ab bc ca cd", "bcd")
    assert get_task("via").check("ac;ab bc bd", "b")
    gap = get_task("gap")
    assert [tuple(s) for s in gap.steps("ab ac bc cd bd", "da")] == [("ad", True)]
    assert gap.check("ab ac bc cd bd", "ad") and not gap.check("ab ac bc cd bd", "bc")
    assert gap.hint("ab ac bc cd bd", "cb") == "no bc"
    assert not gap.check("ab ac bc cd bd", "ae")  # `e` is not a node of the graph
    assert not gap.check("ab ac bc cd bd", "aa") and not gap.check("ab ac bc cd bd", "abc")
    sums = get_task("sum")
    assert sums.check("11;72941", "29") and sums.check("11;72941", "92")
    assert not sums.check("11;72941", "56") and not sums.check("4;2913", "22")
    assert get_task("diff").check("3;7249", "74") and not get_task("diff").check("3;7249", "7")


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(["path", "triangle", "via"]), seed=st.integers(0, 2**32))
def test_edges_and_pair_claims_are_written_in_alphabetical_order(name, seed):
    # An edge and a claim about the same two nodes must be the same token to the tokenizer.
    task = get_task(name)
    rng = random.Random(seed)
    x, y = task.generate(rng, task.default_difficulty)
    edges = x.partition(";")[2] if ";" in x else x
    assert all(e[0] < e[1] for e in edges.split())
    for answer in (y, y[::-1], corrupt(rng, task, x, y)):
        pairs = [s for s in task.steps(x, answer) if len(s.claim) == 2]
        assert all(s.claim[0] <= s.claim[1] for s in pairs)
        assert all(s.ok == (s.claim in edges.split()) for s in pairs)


def test_a_walk_backwards_claims_the_same_edges():
    path = get_task("path")
    assert [s.claim for s in path.steps("d a;ab bd cd", "dba")] == ["d", "bd", "ab", "a"]


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), data=st.data())
def test_a_gap_answer_is_right_exactly_when_its_pair_is_no_edge(seed, data):
    task = get_task("gap")
    d = data.draw(st.integers(task.min_train_difficulty, task.max_difficulty))
    x, y = task.generate(random.Random(seed), d)
    edges = set(x.split())
    _, _, nodes = parse(x)
    assert len(nodes) == d and y not in edges and y[0] < y[1]
    assert len(edges) in (d * (d - 1) // 2 - 1, d * (d - 1) // 2 - 2)
    u, v = data.draw(st.sampled_from(sorted(nodes))), data.draw(st.sampled_from(sorted(nodes)))
    assert task.check(x, u + v) == (u != v and min(u, v) + max(u, v) not in edges)


def test_graphs_parse_both_edge_orientations():
    head, edges, nodes = parse("ad;ba cd")
    assert head == "ad" and frozenset("ab") in edges and nodes == set("abcd")
    assert parse("a d;ba cd")[0] == "ad"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_splits_are_deterministic_disjoint_and_labelled(name):
    task = get_task(name)
    splits = {s: task.split(s, 60, seed=3) for s in ("train", "dev", "test")}
    assert splits["test"] == task.split("test", 60, seed=3)
    assert splits["test"] != task.split("test", 60, seed=4)  # another seed, another sample
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
    sums = get_task("sum")
    pairs = sums.split("test", 1000, difficulty=2)  # two digits: 90 lists in all, few in test
    assert 0 < len(pairs) < 40
    assert len({x for x, _ in pairs}) == len(pairs)


def test_unknown_task_and_split_are_refused_with_the_known_names():
    with pytest.raises(SoftloopError, match="path"):
        get_task("reverse")
    with pytest.raises(SoftloopError, match="train, dev, test"):
        get_task("path").split("holdout", 3)  # type: ignore[arg-type]


def test_difficulty_below_one_is_refused():
    with pytest.raises(SoftloopError, match="difficulty"):
        get_task("path").split("test", 3, difficulty=0)


def test_the_task_suite_imports_without_torch() -> None:
    # `from softloop.bench import TASKS` is how a user reads the tasks; it must not pay for torch.
    import subprocess
    import sys

    code = "import sys, softloop.bench; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_same_seed_draws_the_same_inputs_in_every_process() -> None:
    """Inputs must not depend on string hashing, which changes per process."""
    script = (
        "import hashlib; from softloop.bench.tasks import TASKS; "
        "print(hashlib.sha1(repr([TASKS[t].split('test', 30, seed=3) for t in TASKS])"
        ".encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2)
    }
    assert len(digests) == 1


@settings(max_examples=100, deadline=None)
@given(d=st.integers(2, 10), seed=st.integers(0, 2**32))
def test_diff_asks_for_a_value_exactly_one_pair_makes(d, seed):
    diff = get_task("diff")
    x, y = diff.generate(random.Random(seed), d)
    value, _, digits = x.partition(";")
    makers = [
        a + b
        for i, a in enumerate(digits)
        for b in digits[i + 1 :]
        if abs(int(a) - int(b)) == int(value)
    ]
    assert makers == [y] and diff.check(x, y)


def test_diff_pretrains_on_every_value_a_pair_makes():
    # The benchmark asks the narrow slice; the corpus the model learnt from holds the rest too.
    diff = get_task("diff")
    rng = random.Random(0)
    several = 0
    for _ in range(200):
        x, _ = draw_train(rng, diff, difficulty=8)
        value, _, digits = x.partition(";")
        pairs = [(a, b) for i, a in enumerate(digits) for b in digits[i + 1 :]]
        several += sum(abs(int(a) - int(b)) == int(value) for a, b in pairs) > 1
    assert several > 100
