"""`python -m softloop.bench.reference` end to end on a few test inputs: the documented JSON."""

import json

from softloop.bench import reference
from softloop.bench.tasks import TASKS


def test_reference_benchmark_prints_the_documented_json(capsys) -> None:
    reference.main(["--json", "--n", "3"])
    result = json.loads(capsys.readouterr().out)
    assert set(result["tasks"]) == set(TASKS)
    for row in result["tasks"].values():
        for key in ("text_instruction_acc", "no_instruction_acc", "soft_prompt_acc"):
            assert 0.0 <= row[key] <= 1.0
        assert row["n_tokens"] <= 20 and row["trainable_params"] == row["n_tokens"] * 128
    for critic in (result["critic"], result["loop_critic"]):
        # Every own answer is judged once: greedy, T=0.7 and T=1.0 for 3 inputs per task.
        assert critic["n"] == 3 * 3 * len(TASKS)
        assert {"precision", "recall", "f1"} <= set(critic)
        assert set(critic["per_task"]) == set(TASKS)
        assert sum(m["n"] for m in critic["per_task"].values()) == critic["n"]
