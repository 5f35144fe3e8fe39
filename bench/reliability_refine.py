"""Reliability scenarios for refiners: one SIGKILLed at random points of its cycle, again and
again (`refiner-kills`), and several released together cycle after cycle (`refiners`).

A kill must leave the active version loadable, and unchanged unless its promotion committed;
the next refiner must take the prompt over once the lease runs out. Refiners racing must never
train one prompt twice in a cycle, nor promote it twice.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from softloop.agent.graph.prompt_source import PromptRef
from softloop.agent.refine import RefineConfig
from softloop.agent.registry import verified_path
from softloop.agent.store import Store
from softloop.bench.reliability_kit import (
    OTHER,
    TASK,
    Databases,
    ReliabilityConfig,
    ScenarioResult,
    add_feedback,
    child_process,
    make_refiner,
    refine_config,
    registry_for,
    seed_prompts,
)
from softloop.prompts import FrozenLM


def _refine_child(url: str, home: Path, lm: FrozenLM, config: RefineConfig, who: str) -> None:
    child_process()
    store = Store(url, auto_upgrade=False)
    make_refiner(store, lm, home, config, [TASK], who).refine(TASK)
    store.close()


def _active(store: Store) -> tuple[int, str, str | None]:
    row = store.active_version(TASK)
    assert row is not None
    return row.version, row.sha256, row.manifest_sha256


def refiner_kills(
    cfg: ReliabilityConfig, lm: FrozenLM, dbs: Databases, work: Path, rng: random.Random
) -> ScenarioResult:
    t0 = time.perf_counter()
    url, home = dbs.create(), work / "refiner-kills"
    home.mkdir(parents=True)
    store = Store(url, auto_upgrade=False)
    seed_prompts(store, lm, home, (TASK,))
    config = refine_config(cfg.lease_ttl_s, min_feedback=10, steps=40)
    add_feedback(store, TASK, 20, "warm")
    started = time.perf_counter()
    make_refiner(store, lm, home, config, [TASK], "timing").refine(TASK)
    cycle_s = time.perf_counter() - started
    ctx = multiprocessing.get_context("fork")
    counts: Counter[str] = Counter()
    takeover_s: list[float] = []
    for k in range(cfg.refiner_kills):
        add_feedback(store, TASK, 20, f"k{k}-")
        before = _active(store)
        child = ctx.Process(target=_refine_child, args=(url, home, lm, config, f"killed-{k}"))
        child.start()
        time.sleep(rng.uniform(0.0, 1.2 * cycle_s))
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signal.SIGKILL)
            counts["killed"] += 1
        else:
            counts["finished_before_the_kill"] += 1
        child.join()
        killed_at = time.perf_counter()
        after = _active(store)
        fresh = registry_for(store, lm, home, "check")
        row = store.get_prompt_version(TASK, after[0])
        try:
            verified_path(row, "the active version is broken")
            fresh.load(PromptRef(name=TASK, version=after[0]))
        except Exception:
            counts["active_not_loadable"] += 1
        if after == before:
            counts["active_unchanged"] += 1
        elif row.parent == before[0] and row.promoted_at is not None:
            counts["promotion_committed"] += 1
        else:
            counts["active_changed_otherwise"] += 1
        # The next refiner takes over once the dead one's lease has run out.
        successor = make_refiner(store, lm, home, config, [TASK], f"successor-{k}")
        while True:
            outcome = successor.refine(TASK)
            if outcome.reason != "another refiner holds the lease":
                break
            if time.perf_counter() - killed_at > 10 * cfg.lease_ttl_s + 30:
                counts["no_takeover"] += 1
                break
            time.sleep(0.1)
        takeover_s.append(time.perf_counter() - killed_at)
        counts[f"successor_{outcome.action}"] += 1
    swept = registry_for(store, lm, home, "sweep").sweep(older_than_s=0)
    orphans = _orphans(store, home)
    running = [j for j in store.list_jobs(TASK, limit=1000) if j.status == "running"]
    store.close()
    broken = counts["active_not_loadable"] + counts["active_changed_otherwise"]
    within = sum(1 for s in takeover_s if s <= cfg.lease_ttl_s + 1.0)
    details: dict[str, Any] = dict(counts)
    details.update(
        cycle_s=round(cycle_s, 2),
        lease_ttl_s=cfg.lease_ttl_s,
        takeover_max_s=round(max(takeover_s), 2),
        takeovers_within_ttl_plus_1s=within,
        leftovers_swept=len(swept),
        orphan_directories=orphans,
        jobs_left_running=len(running),
    )
    return ScenarioResult(
        name="refiner-kills",
        load=f"refine cycles of {cycle_s:.1f} s, each SIGKILLed at a random point",
        faults=f"{cfg.refiner_kills} SIGKILLs, lease {cfg.lease_ttl_s:g} s",
        unit="kills",
        expected=cfg.refiner_kills,
        stored=counts["active_unchanged"] + counts["promotion_committed"],
        duplicated=0,
        lost=broken,
        ok=(
            broken == 0
            and counts["no_takeover"] == 0
            and counts["successor_failed"] == 0
            and orphans == 0
            and not running
        ),
        details=details,
        seconds=time.perf_counter() - t0,
    )


def _orphans(store: Store, home: Path) -> int:
    """Directories under the registry that no row points to (after the sweep)."""
    rows = {Path(r.path).resolve() for r in store.list_prompt_versions()}
    root = home / "prompts"
    on_disk = {p.resolve() for d in root.iterdir() for p in d.iterdir()} if root.is_dir() else set()
    return len(on_disk - rows)


# --- scenario: refiners at once ---------------------------------------------------------------


def _cycling_refiner(
    url: str, home: Path, lm: FrozenLM, k: int, cycles: int, ttl_s: float, barrier: Any, out: Any
) -> None:
    child_process()
    store = Store(url, auto_upgrade=False)
    config = refine_config(ttl_s, min_feedback=10, steps=10)
    refiner = make_refiner(store, lm, home, config, [TASK, OTHER], f"refiner-{k}")
    for cycle in range(cycles):
        barrier.wait(600)
        outcomes = refiner.refine_once()
        out.put([(k, cycle, o.name, o.action, o.candidate_version) for o in outcomes])
        barrier.wait(600)
    store.close()


def concurrent_refiners(
    cfg: ReliabilityConfig, lm: FrozenLM, dbs: Databases, work: Path
) -> ScenarioResult:
    t0 = time.perf_counter()
    url, home = dbs.create(), work / "refiners"
    home.mkdir(parents=True)
    store = Store(url, auto_upgrade=False)
    names = (TASK, OTHER)
    seed_prompts(store, lm, home, names)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(cfg.refiners + 1), ctx.Queue()
    procs = [
        ctx.Process(
            target=_cycling_refiner,
            args=(url, home, lm, k, cfg.cycles, cfg.lease_ttl_s * 10, barrier, out),
        )
        for k in range(cfg.refiners)
    ]
    for p in procs:
        p.start()
    outcomes: list[tuple[int, int, str, str, int | None]] = []
    for cycle in range(cfg.cycles):
        for name in names:
            add_feedback(store, name, 15, f"c{cycle}{name}-")
        barrier.wait(600)  # all refiners start this cycle together
        barrier.wait(600)  # and all have finished it
        for _ in procs:
            outcomes += out.get(timeout=60)
    for p in procs:
        p.join(60)
    trained = Counter((c, n) for _, c, n, a, _ in outcomes if a in ("promoted", "rejected"))
    promoted = Counter((c, n) for _, c, n, a, _ in outcomes if a == "promoted")
    actions = Counter(a for *_, a, _ in outcomes)
    slots = {(c, n) for c in range(cfg.cycles) for n in names}
    versions = {n: store.list_prompt_versions(n) for n in names}
    active = {n: [v.version for v in vs if v.status == "active"] for n, vs in versions.items()}
    running = [j for j in store.list_jobs(limit=10_000) if j.status == "running"]
    store.close()
    double_trained = sum(1 for s in slots if trained[s] > 1)
    double_promoted = sum(1 for s in slots if promoted[s] > 1)
    untrained = sum(1 for s in slots if trained[s] == 0)
    registered = sum(len(vs) - 1 for vs in versions.values())
    ok = (
        double_trained == 0
        and double_promoted == 0
        and untrained == 0
        and all(len(a) == 1 for a in active.values())
        and registered == sum(trained.values())
        and not running
        and all(p.exitcode == 0 for p in procs)
    )
    return ScenarioResult(
        name="refiners",
        load=f"{cfg.refiners} refiner processes x {cfg.cycles} cycles on 2 prompts",
        faults="every refiner races for every prompt at once",
        unit="prompt-cycles",
        expected=len(slots),
        stored=sum(1 for s in slots if promoted[s] == 1),
        duplicated=double_trained + double_promoted,
        lost=untrained,
        ok=ok,
        details={
            "outcomes": dict(actions),
            "trained_twice_in_a_cycle": double_trained,
            "promoted_twice_in_a_cycle": double_promoted,
            "versions_registered": registered,
            "active_per_prompt": {n: len(a) for n, a in active.items()},
            "jobs_left_running": len(running),
        },
        seconds=time.perf_counter() - t0,
    )
