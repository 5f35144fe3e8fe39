"""Prompt-version rows (promote, rollback) and refine-job leases."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from softloop.agent.store import PromptVersionNotFoundError, Store, StoreError


def _register(store: Store, name: str = "reverse", n: int = 3) -> None:
    for i in range(1, n + 1):
        store.add_prompt_version(
            name,
            "task",
            f"/prompts/{name}/{i}.safetensors",
            "0" * 64,
            parent=i - 1 or None,
            n_examples=100 * i,
            metrics={"acc": i / 10},
        )


def test_versions_are_numbered_and_listed(store: Store) -> None:
    _register(store)
    store.add_prompt_version("critique", "critique", "/p/c1", "1" * 64)
    versions = store.list_prompt_versions("reverse")
    assert [(v.version, v.status, v.parent) for v in versions] == [
        (1, "candidate", None),
        (2, "candidate", 1),
        (3, "candidate", 2),
    ]
    assert versions[2].metrics == {"acc": 0.3} and versions[2].ref == "reverse@3"
    assert [v.name for v in store.list_prompt_versions()] == ["critique"] + ["reverse"] * 3
    with pytest.raises(StoreError, match="already registered"):
        store.add_prompt_version("reverse", "task", "/x", "0" * 64, version=2)
    with pytest.raises(StoreError, match="not a prompt kind"):
        store.add_prompt_version("reverse", "judge", "/x", "0" * 64)


def test_promote_and_rollback(store: Store) -> None:
    _register(store)
    assert store.active_version("reverse") is None
    first = store.promote("reverse", 1)
    assert first.status == "active" and first.promoted_at is not None
    store.promote("reverse", 2)
    assert store.active_version("reverse").version == 2
    statuses = {v.version: v.status for v in store.list_prompt_versions("reverse")}
    assert statuses == {1: "retired", 2: "active", 3: "candidate"}

    back = store.rollback("reverse")
    assert back.version == 1 and store.active_version("reverse").version == 1
    statuses = {v.version: v.status for v in store.list_prompt_versions("reverse")}
    assert statuses == {1: "active", 2: "rejected", 3: "candidate"}

    assert store.set_status("reverse", 3, "rejected").status == "rejected"
    with pytest.raises(StoreError, match="no earlier promoted version"):
        store.rollback("reverse")
    with pytest.raises(PromptVersionNotFoundError, match="reverse@9"):
        store.promote("reverse", 9)


def test_active_versions_reads_several_names_at_once(store: Store) -> None:
    _register(store)
    _register(store, "critique", n=2)
    _register(store, "revise", n=1)  # never promoted: no active version
    store.promote("reverse", 2)
    store.promote("critique", 1)
    active = store.active_versions(["reverse", "critique", "revise", "nope"])
    assert {name: row.version for name, row in active.items()} == {"reverse": 2, "critique": 1}
    assert store.active_versions([]) == {}
    # The light form a run's prompt pick uses says the same.
    names = ["reverse", "critique", "revise", "nope"]
    assert store.active_version_numbers(names) == {"reverse": 2, "critique": 1}
    assert store.active_version_numbers([]) == {}


def test_the_database_allows_one_active_version_per_name(store: Store) -> None:
    store.add_prompt_version("add", "task", "/a1", "0" * 64, status="active")
    with pytest.raises(StoreError):
        store.add_prompt_version("add", "task", "/a2", "0" * 64, status="active")


def _acquire(url: str, owner: str, barrier=None):
    store = Store(url, auto_upgrade=False)
    if barrier is not None:
        barrier.wait()
    job = store.try_acquire_lease("reverse", owner, ttl_s=60)
    store.close()
    return None if job is None else job.owner


def test_one_of_many_concurrent_threads_gets_the_lease(store: Store) -> None:
    n = 6
    barrier = threading.Barrier(n)
    winners: list[str | None] = [None] * n

    def work(k: int) -> None:
        winners[k] = _acquire(store.url, f"refiner-{k}", barrier)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([w for w in winners if w]) == 1


def _acquire_in_child(url: str, owner: str, barrier, results) -> None:
    results.put(_acquire(url, owner, barrier))


def test_one_of_many_concurrent_processes_gets_the_lease(store: Store) -> None:
    ctx = multiprocessing.get_context("fork")  # spawn would re-import torch in each child
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_acquire_in_child, args=(store.url, f"proc-{k}", barrier, results))
        for k in range(3)
    ]
    for p in procs:
        p.start()
    winners = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert len([w for w in winners if w]) == 1
    assert [j.status for j in store.list_jobs("reverse")] == ["running"]


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    # Long enough that a slow machine cannot let it lapse before the next line; the renewal
    # below then shortens it to 0.3 s, which the sleep outlasts.
    first = store.try_acquire_lease("reverse", "crashed", ttl_s=30)
    assert first is not None
    assert store.try_acquire_lease("reverse", "patient", ttl_s=60) is None
    assert store.renew_lease(first.id, "crashed", ttl_s=0.3)
    time.sleep(0.5)
    second = store.try_acquire_lease("reverse", "patient", ttl_s=60)
    assert second is not None and second.owner == "patient"
    assert not store.renew_lease(first.id, "crashed", ttl_s=60)  # it lost the lease
    jobs = {j.id: j for j in store.list_jobs("reverse")}
    assert jobs[first.id].status == "expired" and jobs[first.id].finished_at is not None

    done = store.finish_job(second.id, "succeeded", metrics={"promoted": True})
    assert done.status == "succeeded" and done.metrics == {"promoted": True}
    third = store.try_acquire_lease("reverse", "next", ttl_s=60)
    assert third is not None
    assert store.try_acquire_lease("sort", "next", ttl_s=60) is not None  # leases are per prompt
    with pytest.raises(StoreError, match="final status"):
        store.finish_job(third.id, "running")


def test_simultaneous_promotions_leave_exactly_one_active(store: Store) -> None:
    _register(store, n=4)
    store.promote("reverse", 1)
    barrier = threading.Barrier(3)

    def promote(version: int) -> None:
        barrier.wait()
        store.promote("reverse", version)

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [v.status for v in store.list_prompt_versions("reverse")]
    assert statuses.count("active") == 1 and statuses.count("retired") == 3
