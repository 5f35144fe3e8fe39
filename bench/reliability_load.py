"""Reliability scenarios `load` and `kills`: agent processes and a promoting refiner on one
PostgreSQL, with and without every connection killed at a fixed interval.

Every run must be stored exactly once, and record the prompt version it really used: each
agent notes the version written in the manifest of every prompt file it loaded (checksummed at
registration), and that is compared with what the stored run says.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from softloop.agent.graph import build_graph
from softloop.agent.store import Store
from softloop.agent.store.spool import replay
from softloop.bench.reliability_kit import (
    CLIENT_TRIES,
    LOOP,
    TASK,
    Databases,
    ReliabilityConfig,
    ScenarioResult,
    Witness,
    _one_line,
    _parity,
    child_process,
    make_refiner,
    refine_config,
    registry_for,
    seed_prompts,
)
from softloop.critics import PredicateCritic
from softloop.prompts import FrozenLM

PROMOTER_TTL_S = 60.0


def _agent(url: str, home: Path, lm: FrozenLM, index: int, runs: int, log: Path, go: Any) -> None:
    """One agent process: `runs` requests through the stored loop, one log line each."""
    child_process()
    store = Store(url, auto_upgrade=False)
    witness = Witness(registry_for(store, lm, home, f"agent-{index}"))
    critic = PredicateCritic(_parity, name="parity")
    graph = build_graph(lm, witness, critic=critic, store=store, config=LOOP)
    go.wait()
    with log.open("a", encoding="utf-8") as out:
        for i in range(runs):
            entry: dict[str, Any] = {}
            for tries in range(1, CLIENT_TRIES + 1):
                witness.used = {}
                request = {
                    "task": TASK,
                    "input": f"{index}-{i}",
                    "idempotency_key": f"a{index}-r{i}",
                    "metadata": {"agent": index, "i": i},
                }
                try:
                    state = graph.invoke(request)
                except Exception as err:  # not answered: the client sends it again
                    entry = {"error": _one_line(err), "tries": tries}
                    continue
                entry = {
                    "run_id": state["run_id"],
                    "store_error": state["store_error"],
                    "used": dict(witness.used),
                    "tries": tries,
                }
                break
            out.write(json.dumps({"agent": index, "i": i, **entry}) + "\n")
            out.flush()
    store.close()


def _promoter(url: str, home: Path, lm: FrozenLM, stop: Any, log: Path, ttl_s: float) -> None:
    """A refiner process that retrains and promotes the task prompt until told to stop."""
    child_process()
    store = Store(url, auto_upgrade=False)
    refiner = make_refiner(
        store, lm, home, refine_config(ttl_s, min_feedback=30, steps=3), [TASK], "promoter"
    )
    with log.open("a", encoding="utf-8") as out:
        while not stop.is_set():
            try:
                outcomes = refiner.refine_once()
            except Exception as err:  # a refinement round may fail under kills; the next one runs
                out.write(json.dumps({"error": _one_line(err)}) + "\n")
                outcomes = []
            for o in outcomes:
                out.write(o.model_dump_json() + "\n")
            out.flush()
            stop.wait(0.2)
    store.close()


def _killer(dbs: Databases, url: str, every_s: float, stop: threading.Event, kills: list[int]):
    """Kill the database's connections every `every_s`, starting at once: on a fast machine the
    agents may finish within one interval."""
    while True:
        with contextlib.suppress(Exception):  # the admin connection itself is never killed
            kills.append(dbs.terminate(url))
        if stop.wait(every_s):
            return


def agents_under_load(
    cfg: ReliabilityConfig, lm: FrozenLM, dbs: Databases, work: Path, *, kill: bool
) -> ScenarioResult:
    t0 = time.perf_counter()
    url, home = dbs.create(), work / ("kills" if kill else "load")
    home.mkdir(parents=True)
    os.environ["SOFTLOOP_HOME"] = str(home)  # the agents' spool
    store = Store(url, auto_upgrade=False)
    seed_prompts(store, lm, home, (TASK,))
    ctx = multiprocessing.get_context("fork")  # the model is built once and shared
    go, stop = ctx.Event(), ctx.Event()
    logs = [home / f"agent-{k}.jsonl" for k in range(cfg.agents)]
    agents = [
        ctx.Process(target=_agent, args=(url, home, lm, k, cfg.runs, logs[k], go))
        for k in range(cfg.agents)
    ]
    # A lease long enough for a refiner that shares two cores with the agents (a renewal may
    # wait a second or more for the CPU): losing it would be safe, but says nothing here.
    promoter = ctx.Process(
        target=_promoter, args=(url, home, lm, stop, home / "refiner.jsonl", PROMOTER_TTL_S)
    )
    for p in [*agents, promoter]:
        p.start()
    kills: list[int] = []
    killer_stop = threading.Event()
    killer = threading.Thread(
        target=_killer, args=(dbs, url, cfg.kill_every_s, killer_stop, kills), daemon=True
    )
    go.set()
    if kill:
        killer.start()
    for p in agents:
        p.join(3600)  # bounds a hang; a stuck agent shows in the exit codes
        if p.is_alive():
            p.kill()
            p.join()
    killer_stop.set()
    stop.set()
    promoter.join(120)
    if kill:
        killer.join()
    entries = [json.loads(line) for log in logs if log.exists() for line in log.open()]
    spooled = sum(1 for e in entries if e.get("store_error"))
    replayed = replay(store, home)
    result = _count_runs(cfg, store, entries)
    versions = store.list_prompt_versions(TASK)
    refiner_lines = [json.loads(x) for x in (home / "refiner.jsonl").read_text().splitlines()]
    result.update(
        spooled=spooled,
        replayed=replayed.replayed + replayed.already_stored,
        refused_on_replay=len(replayed.refused),
        promotions=sum(1 for v in versions if v.promoted_at is not None) - 1,
        refiner_failures=sum(
            1 for o in refiner_lines if o.get("action") == "failed" or "error" in o
        ),
        agents_failed=sum(1 for p in agents if p.exitcode != 0),
    )
    if kill:
        result.update(kill_rounds=len(kills), connections_killed=sum(kills))
    store.close()
    expected = cfg.agents * cfg.runs
    ok = (
        result["lost"] == 0
        and result["duplicated"] == 0
        and result["version_mismatches"] == 0
        and result["unanswered"] == 0
        and result["agents_failed"] == 0
        and (not kill or result["connections_killed"] > 0)
    )
    return ScenarioResult(
        name="kills" if kill else "load",
        load=f"{cfg.agents} agent processes x {cfg.runs} runs, 1 refiner promoting",
        faults=(
            f"every connection killed each {cfg.kill_every_s:g} s (pg_terminate_backend)"
            if kill
            else "none"
        ),
        unit="runs",
        expected=expected,
        stored=result.pop("stored"),
        duplicated=result.pop("duplicated"),
        lost=result.pop("lost"),
        ok=ok,
        details=result,
        seconds=time.perf_counter() - t0,
    )


def _count_runs(cfg: ReliabilityConfig, store: Store, entries: list[dict]) -> dict[str, Any]:
    """Runs expected, stored (distinct requests), stored twice, lost; versions checked."""
    logged = {(e["agent"], e["i"]): e for e in entries}
    rows: Counter[tuple[int, int]] = Counter()
    mismatches = 0
    for run in store.iter_runs(task=TASK):
        meta = run.metadata
        if "agent" not in meta:
            continue
        key = (meta["agent"], meta["i"])
        rows[key] += 1
        used = logged.get(key, {}).get("used", {})
        recorded = {run.prompt_versions.get(TASK)} | {
            a.prompt_version for a in run.attempts if a.prompt_name == TASK
        }
        if recorded != {used.get(TASK)}:
            mismatches += 1
    expected = {(k, i) for k in range(cfg.agents) for i in range(cfg.runs)}
    return {
        "stored": len(set(rows) & expected),
        "duplicated": sum(n - 1 for n in rows.values()),
        "lost": len(expected - set(rows)),
        "version_mismatches": mismatches,
        "unanswered": sum(1 for e in entries if "error" in e),
        "client_retries": sum(e.get("tries", 1) - 1 for e in entries),
    }
