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
    assert report["overhead"]["per_run_ms"]["langgraph_alone"] > 0.0
    if critic == "oracle":
        assert report["right_to_wrong"] == 0
        assert report["first_wrong_caught"] == report["first_wrong"]


def test_the_loop_can_be_measured_on_dev_with_another_switch_margin(capsys) -> None:
    loop.main(["--json", "--n", "2", "--split", "dev", "--switch-margin", "100"])
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "dev" and report["config"]["switch_margin"] == 100.0
    assert report["n"] == 2 * len(TASKS)


def test_the_graph_floor_replays_each_run_along_its_own_path(tmp_path) -> None:
    """The runs replayed through the graph with empty nodes end where they ended; handed runs
    it cannot follow, the replay says so instead of timing something else."""
    from softloop.agent.graph import LoopConfig, LoopState
    from softloop.agent.setup import open_setup
    from softloop.bench.loop_overhead import replay_seconds
    from softloop.bench.world import reference_world

    setup = open_setup(
        db_url=f"sqlite:///{tmp_path / 'loop.db'}",
        home=tmp_path,
        world=reference_world(),
        auto_upgrade=True,
    )
    config = LoopConfig()
    graph = setup.graph(config=config)
    requests = [{"task": k, "input": x} for k, t in TASKS.items() for x, _ in t.split("test", 2)]
    states = [LoopState.model_validate(graph.invoke(r)) for r in requests]
    setup.close()
    assert replay_seconds(states, config) > 0.0
    # One attempt more than the run made: no replay of it can end there.
    longer = [s.model_copy(update={"attempts": [*s.attempts, s.attempts[-1]]}) for s in states]
    with pytest.raises(RuntimeError, match="another path"):
        replay_seconds(longer, config)
