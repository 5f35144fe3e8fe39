"""The learnable task `t` and stored feedback for it.

The task answers `ab` whatever the input: a 2-layer model's prompt learns it in a few dozen
steps, so promotion, rejection and poisoning can be told apart by accuracy.
"""

from __future__ import annotations

import random
import uuid

from softloop.agent.store import AttemptRecord, CritiqueRecord, RunRecord, Store
from softloop.prompts import Example

ANSWER = "ab"


def inputs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices("cdefgh0123", k=rng.randint(2, 5))) for _ in range(n)]


EVAL = [Example(input=i, output=ANSWER) for i in inputs(24, seed=99)]


def store_feedback(
    store: Store, n: int, *, seed: int = 0, label_every: int = 1, answer=lambda i: ANSWER
) -> None:
    """n passed runs of task `t`, every `label_every`-th labelled by an oracle with `answer`."""
    for k, text in enumerate(inputs(n, seed)):
        run = RunRecord(
            # Fixed ids: the refiner's holdout split hashes them, so tests stay deterministic.
            id=uuid.UUID(int=seed * 100_000 + k),
            task="t",
            input=text,
            final_output=ANSWER,
            status="passed",
            prompt_versions={"t": 1},
            attempts=[
                AttemptRecord(
                    round=1,
                    output=ANSWER,
                    prompt_name="t",
                    prompt_version=1,
                    critiques=[CritiqueRecord(critic="c", verdict="pass", score=0.9)],
                )
            ],
        )
        run_id = store.record_run(run)
        if k % label_every == 0:
            wanted = answer(text)
            store.add_label(run_id, wanted == ANSWER, answer=wanted, source="oracle")
