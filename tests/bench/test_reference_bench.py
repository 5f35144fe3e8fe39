"""`python -m softloop.bench.reference` and `bench.critic` end to end on a few test inputs."""

import json

from softloop.bench import critic, reference
from softloop.bench.tasks import TASKS


def test_reference_benchmark_prints_the_documented_json(capsys) -> None:
    reference.main(["--json", "--n", "3"])
    result = json.loads(capsys.readouterr().out)
    assert set(result["tasks"]) == set(TASKS)
    for row in result["tasks"].values():
        for key in ("text_instruction_acc", "no_instruction_acc", "soft_prompt_acc"):
            assert 0.0 <= row[key] <= 1.0
        assert row["n_tokens"] <= 20 and row["trainable_params"] == row["n_tokens"] * 128


def test_critic_benchmark_judges_every_answer_once_per_critic_and_seeds_its_sample(
    capsys,
) -> None:
    critic.main(["--json", "--n", "4"])
    first = json.loads(capsys.readouterr().out)
    assert set(first["critics"]) == {"confidence", "critique", "loop", "oracle"}
    for row in first["critics"].values():
        assert row["n"] == 4 * len(TASKS) == first["answers"]
        assert {"auc", "balanced_acc", "precision", "recall", "f1"} <= set(row)
    assert first["critics"]["oracle"]["f1"] in (1.0, 0.0)  # exact, or nothing wrong to catch
    assert set(first["per_task"]) == set(TASKS)
    critic.main(["--json", "--n", "4", "--seed", "1"])
    other = json.loads(capsys.readouterr().out)
    assert other["seed"] == 1 and first["seed"] == 0
