"""The refiner's lease (issue 16, defect 9), on SQLite and PostgreSQL.

Taken before the dataset is read; renewed on a heartbeat while training, so a job may outlive
its ttl; lost (taken over after a stall), it stops training and registers nothing; and the job
row is always closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from softloop.agent.refine import EvalSets, RefineConfig, Refiner
from softloop.agent.store import RefineJob, Store
from tests.agent.refine.feedback import EVAL, store_feedback

QUICK = dict(min_new_feedback=10, steps=20, lr=0.1, batch_size=16)


def refiner(store, lm, registry, ttl: float = 900.0) -> Refiner:
    config = RefineConfig(**QUICK, lease_ttl_s=ttl)
    return Refiner(store, lm, registry, config=config, eval_sets=EvalSets(tasks={"t": EVAL}))


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll for a state (never assert on how long it took)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.05)


def running(store: Store) -> RefineJob:
    [job] = [j for j in store.list_jobs("t") if j.status == "running"]
    return job


def test_the_lease_is_renewed_while_training(store, lm, registry, monkeypatch) -> None:
    store_feedback(store, 30)
    import softloop.agent.refine.refiner as module

    train = module.train_prompt

    def long_training(*args, **kwargs):
        first = running(store).lease_until
        # Train on only once the job has outlived its first lease and still holds a live one.
        wait_until(
            lambda: (
                datetime.now(UTC) > first + timedelta(seconds=0.2)
                and running(store).lease_until > datetime.now(UTC)
            )
        )
        return train(*args, **kwargs)

    monkeypatch.setattr(module, "train_prompt", long_training)
    outcome = refiner(store, lm, registry, ttl=0.9).refine("t")
    assert outcome.action in ("promoted", "rejected"), outcome.summary()
    assert [j.status for j in store.list_jobs("t")] == ["succeeded"]


def test_a_lost_lease_stops_training_and_closes_the_job(store, lm, registry, monkeypatch) -> None:
    store_feedback(store, 30)
    import softloop.agent.refine.refiner as module

    train = module.train_prompt

    def stalled(*args, should_stop, **kwargs):
        mine = running(store)
        # A stall past the ttl: the lease runs out and another refiner takes the prompt over.
        past = datetime.now(UTC) - timedelta(seconds=5)
        store.write(
            lambda s: s.execute(
                update(RefineJob).where(RefineJob.id == mine.id).values(lease_until=past)
            )
        )
        assert store.try_acquire_lease("t", "another-refiner", 60) is not None
        wait_until(should_stop)  # the heartbeat notices
        return train(*args, should_stop=should_stop, **kwargs)

    monkeypatch.setattr(module, "train_prompt", stalled)
    outcome = refiner(store, lm, registry, ttl=0.9).refine("t")
    assert outcome.action == "abandoned" and "lost the lease" in outcome.reason
    statuses = {j.owner: j.status for j in store.list_jobs("t")}
    assert statuses["another-refiner"] == "running"
    assert [s for o, s in statuses.items() if o != "another-refiner"] == ["abandoned"]
    assert [v.version for v in store.list_prompt_versions("t")] == [1]  # nothing registered


def test_an_expired_lease_nobody_took_still_closes_the_job(
    store, lm, registry, monkeypatch
) -> None:
    store_feedback(store, 30)
    import softloop.agent.refine.refiner as module

    train = module.train_prompt

    def stalled(*args, should_stop, **kwargs):
        mine = running(store)
        past = datetime.now(UTC) - timedelta(seconds=5)
        store.write(
            lambda s: s.execute(
                update(RefineJob).where(RefineJob.id == mine.id).values(lease_until=past)
            )
        )
        wait_until(should_stop)
        return train(*args, should_stop=should_stop, **kwargs)

    monkeypatch.setattr(module, "train_prompt", stalled)
    outcome = refiner(store, lm, registry, ttl=0.9).refine("t")
    assert outcome.action == "abandoned"
    assert [j.status for j in store.list_jobs("t")] == ["abandoned"]


def test_the_lease_is_taken_before_the_dataset_is_read(
    store, lm, registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_feedback(store, 30)
    assert store.try_acquire_lease("t", "another-refiner", 60) is not None
    reads = []
    monkeypatch.setattr(Store, "iter_runs", lambda self, **kw: reads.append(kw) or iter(()))
    outcome = refiner(store, lm, registry).refine("t")
    assert outcome.action == "skipped" and "another refiner holds the lease" in outcome.reason
    assert reads == []


def test_nothing_to_do_releases_the_lease(store, lm, registry) -> None:
    store_feedback(store, 3)
    outcome = refiner(store, lm, registry).refine("t")
    assert outcome.action == "skipped" and "not enough feedback" in outcome.reason
    assert store.list_jobs("t") == []
    assert store.try_acquire_lease("t", "next", 60) is not None


def test_a_refiner_that_waited_for_the_lease_trains_on_what_the_winner_promoted(
    store, lm, registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by `bench.reliability`: the loser read the active version before the lease, so
    once the winner had promoted and released it, the loser trained the same feedback again."""
    store_feedback(store, 30)
    winner, loser = refiner(store, lm, registry), refiner(store, lm, registry)
    acquire = Store.try_acquire_lease
    raced = []

    def winner_first(self, name, owner, ttl_s):
        if owner == loser.owner and not raced:
            raced.append(winner.refine(name))  # the winner's whole job runs meanwhile
        return acquire(self, name, owner, ttl_s)

    monkeypatch.setattr(Store, "try_acquire_lease", winner_first)
    late = loser.refine("t")
    assert raced[0].action in ("promoted", "rejected"), raced[0].summary()
    assert late.action == "skipped" and "not enough feedback" in late.reason
    assert len(store.list_prompt_versions("t")) == 2  # one candidate, not two


def test_a_rejected_candidate_is_not_retrained_on_the_same_feedback(store, lm, registry) -> None:
    store_feedback(store, 30)
    never = RefineConfig(**{**QUICK, "margin": 1.0})  # no candidate is better by 1.0
    first = Refiner(store, lm, registry, config=never, eval_sets=EvalSets(tasks={"t": EVAL}))
    assert first.refine("t").action == "rejected"
    again = Refiner(store, lm, registry, config=never, eval_sets=EvalSets(tasks={"t": EVAL}))
    outcome = again.refine("t")
    assert outcome.action == "skipped" and "0 new rows" in outcome.reason
    store_feedback(store, 24, seed=7)  # new feedback: worth another try
    assert again.refine("t").action == "rejected"
