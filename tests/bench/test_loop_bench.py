"""`python -m softloop.bench.loop` end to end on a few test inputs: the documented JSON."""

import json

import pytest

from softloop.bench import loop
from softloop.bench.tasks import TASKS

KEYS = {
    "first_attempt_acc",
    "final_acc",
    "wrong_to_right",
    "right_to_wrong",
    "mean_rounds",
    "critic_precision",
    "critic_recall",
    "overhead_fraction",
    "first_wrong",
    "first_wrong_caught",
}


@pytest.mark.parametrize("critic", ["learned", "oracle"])
def test_loop_benchmark_prints_consistent_figures(capsys, critic: str) -> None:
    loop.main(["--json", "--n", "2", "--critic", critic])
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= KEYS and set(report["per_task"]) == set(TASKS)
    n = report["n"]
    assert n == 2 * len(TASKS)
    # The flips are exactly the change in accuracy.
    flips = report["wrong_to_right"] - report["right_to_wrong"]
    assert round((report["final_acc"] - report["first_attempt_acc"]) * n) == flips
    assert report["first_wrong"] == round((1 - report["first_attempt_acc"]) * n)
    # The loop can only fix first-attempt mistakes its critic caught.
    assert report["wrong_to_right"] <= report["first_wrong_caught"] <= report["first_wrong"]
    assert 1.0 <= report["mean_rounds"] <= 3.0
    assert 0.0 <= report["overhead_fraction"] < 1.0
    if critic == "oracle":
        assert report["right_to_wrong"] == 0
        assert report["first_wrong_caught"] == report["first_wrong"]


def test_the_loop_can_be_measured_on_dev_with_another_switch_margin(capsys) -> None:
    loop.main(["--json", "--n", "2", "--split", "dev", "--switch-margin", "100"])
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "dev" and report["config"]["switch_margin"] == 100.0
    assert report["n"] == 2 * len(TASKS)
