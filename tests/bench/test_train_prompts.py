"""`python -m softloop.bench.train_prompts --fit-critic`: the loop critic's weights, per task."""

import json
import shutil

import pytest

from softloop.bench.tasks import TASKS
from softloop.bench.train_prompts import main
from softloop.bench.world import REFERENCE_DIR

pytestmark = pytest.mark.slow  # judges dev answers of every task


def test_fit_critic_records_a_weight_per_task_with_the_critique_prompt(tmp_path) -> None:
    out = tmp_path / "prompts"
    shutil.copytree(REFERENCE_DIR / "prompts", out)
    manifest = out / "critique" / "manifest.json"
    stale = json.loads(manifest.read_text())
    stale["metrics"]["joint_weight:gone"] = 1.0  # fitted for an earlier version: dropped
    manifest.write_text(json.dumps(stale))
    main(["--fit-critic", "--quick", "--out", str(out)])
    metrics = json.loads(manifest.read_text())["metrics"]
    assert "joint_weight:gone" not in metrics
    fitted = json.loads((out / "training.json").read_text())["critique"]["loop_critic"]
    assert set(fitted) == set(TASKS)
    for task, choice in fitted.items():
        # A weight is recorded only where the pair beat confidence alone on dev.
        assert (f"joint_weight:{task}" in metrics) == (choice["weight"] > 0)
        assert choice["auc"] >= choice["confidence_auc"] or choice["auc"] != choice["auc"]
    # The prompts themselves are untouched: only the critique prompt's manifest changed.
    for name in TASKS:
        assert (out / name / "prompt.safetensors").read_bytes() == (
            REFERENCE_DIR / "prompts" / name / "prompt.safetensors"
        ).read_bytes()
