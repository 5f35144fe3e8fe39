"""A week of a small deployment in a store, for the review page's tests.

`seed` writes two tasks, revisions, a prompt promoted and one rejected and a refine job, so
that every part of every page has something to show; tests that check exact rows write their
own runs on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from softloop.agent.store import RunRecord, Store
from tests.runs import build_run

WORDS = ["hello", "stressed", "level", "drawer", "python", "banana", "review", "lemon"]


@dataclass
class Seeded:
    runs: list[RunRecord]  # oldest first
    now: datetime


def seed_prompts(store: Store) -> None:
    """reverse v1 -> v2 (rejected) -> v3 (active); add v1 active; critique v1 active."""
    store.add_prompt_version(
        "reverse", "task", "/p/reverse/1", "1" * 64, metrics={"accuracy": 0.61}, status="active"
    )
    store.add_prompt_version(
        "reverse",
        "task",
        "/p/reverse/2",
        "2" * 64,
        parent=1,
        n_examples=120,
        metrics={"accuracy": 0.58, "parent_accuracy": 0.61},
        status="rejected",
    )
    store.add_prompt_version(
        "reverse",
        "task",
        "/p/reverse/3",
        "3" * 64,
        parent=1,
        n_examples=212,
        metrics={"accuracy": 0.84, "parent_accuracy": 0.61},
    )
    store.promote("reverse", 3)
    store.add_prompt_version(
        "add", "task", "/p/add/1", "4" * 64, metrics={"accuracy": 0.72}, status="active"
    )
    store.add_prompt_version(
        "critique",
        "critique",
        "/p/critique/1",
        "5" * 64,
        metrics={"critic_balanced_accuracy": 0.77},
        status="active",
    )
    job = store.try_acquire_lease("reverse", "refiner@host", ttl_s=60)
    assert job is not None
    store.finish_job(
        job.id, "succeeded", metrics={"action": "promoted", "reason": "v3 accuracy 0.84 vs 0.61"}
    )


def seed(store: Store, days: int = 7, per_day: int = 4) -> Seeded:
    """`days` days of runs, `per_day` a day; the reverse prompt improves from v1 to v3."""
    now = datetime.now(UTC).replace(microsecond=0)
    runs: list[RunRecord] = []
    for day in range(days - 1, -1, -1):
        for k in range(per_day):
            i = day * per_day + k
            word = WORDS[i % len(WORDS)]
            at = now - timedelta(days=day, minutes=30 * k + 5)
            version = 1 if day >= days // 2 else 3
            if k % 2 == 0:
                right = word[::-1]
                wrong = right[:-1] + "x"
                answers: tuple[str, ...] = (right,) if (i + version) % 3 else (wrong, right)
                if version == 1 and k == 2:
                    answers, status = (wrong, wrong[:-1] + "y", wrong), "gave_up"
                else:
                    status = "passed"
                runs.append(
                    build_run(
                        task="reverse",
                        input=word,
                        answers=answers,
                        status=status,
                        created_at=at,
                        latency_s=0.03 * len(answers),
                        prompt_versions={"reverse": version, "critique": 1, "revise": 1},
                    )
                )
            else:
                a, b = i % 7, (i * 3) % 5
                answers = (str(a + b),) if k % 4 == 1 else (str(a + b + 1), str(a + b))
                runs.append(
                    build_run(
                        task="add",
                        input=f"{a}+{b}",
                        answers=answers,
                        status="passed",
                        created_at=at,
                        latency_s=0.02 * len(answers),
                        prompt_versions={"add": 1, "critique": 1, "revise": 1},
                    )
                )
    for run in sorted(runs, key=lambda r: r.created_at):
        store.record_run(run)
    seed_prompts(store)
    return Seeded(runs=sorted(runs, key=lambda r: r.created_at), now=now)
