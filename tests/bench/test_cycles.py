"""The improvement cycles' starting prompts: weak enough to leave the refiner something to do."""

from __future__ import annotations

from pathlib import Path

from softloop.bench.cycles import CycleConfig, Cycles
from softloop.bench.world import CRITIQUE


def test_the_weak_critique_start_is_untrained_and_judges_worse_than_the_models_own_judge(
    tmp_path: Path,
) -> None:
    starts = {}
    for start in ("weak", "text"):
        cycles = Cycles(
            f"sqlite:///{tmp_path / start}.db",
            tmp_path / start,
            CycleConfig(critique_start=start, tasks=("triangle", "via")),
            progress=False,
        )
        cycles.prepare()  # the weak task prompts, whose answers the critique eval set judges
        starts[start] = cycles.weak_critique()
        cycles.setup.close()
    weak, text = starts["weak"], starts["text"]
    assert weak.manifest.name == text.manifest.name == CRITIQUE
    assert weak.manifest.extra["note"] == "weak start: untrained"
    # Untrained vocabulary rows leave the model near chance as a judge; `chk `'s own embeddings
    # already call up the judge it was pre-trained as.
    assert weak.manifest.metrics["critic_balanced_accuracy"] < 0.65
    assert text.manifest.metrics["critic_balanced_accuracy"] > 0.8
