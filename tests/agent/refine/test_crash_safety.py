"""Refiners as real processes, on both databases: SIGKILL mid-training, and two at once.

Each worker is `tests/agent/refine/refine_worker.py`, a separate Python process with its own
model copy and database connections, as refiners on several machines would be.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from softloop.agent.refine import EvalSets, RefineConfig, Refiner
from softloop.agent.registry import PromptRegistry, file_sha256
from softloop.agent.store import Store
from softloop.prompts.prompt_dir import WEIGHTS
from tests.agent.refine.feedback import EVAL, store_feedback

ROOT = Path(__file__).resolve().parents[3]
MODULE = "tests.agent.refine.refine_worker"

pytestmark = pytest.mark.slow  # each test starts Python processes that build a model


def worker(store: Store, registry: PromptRegistry, home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "SOFTLOOP_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", MODULE, store.url, str(registry.root), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"worker exited early ({p.returncode}): {p.stderr.read()}")
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(0.05)


def test_sigkill_during_training_leaves_the_registry_intact(store, lm, registry, tmp_path):
    store_feedback(store, 40)
    # Far more steps than it will live to run; a lease short enough to wait out.
    proc = worker(store, registry, tmp_path, "--steps", "100000", "--ttl", "2")
    try:
        wait_for(lambda: [j.status for j in store.list_jobs("t")] == ["running"], [proc], 120)
        time.sleep(0.5)  # into training
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = time.monotonic()

    # The active version is untouched and loads; nothing else is active; every row's file is
    # whole (present, and the bytes its sha256 names).
    fresh = PromptRegistry(store, lm, registry.root)
    row, prompt = fresh.active_prompt("t")
    assert row.version == 1 and prompt.n_tokens == 6
    rows = store.list_prompt_versions()
    assert [(r.ref, r.status) for r in rows] == [("t@1", "active")]
    for r in rows:
        assert (Path(r.path) / WEIGHTS).is_file() and file_sha256(Path(r.path)) == r.sha256
    [stale] = store.list_jobs("t")
    assert stale.status == "running"  # nobody finished it: its lease has to run out

    time.sleep(max(0.0, 2.5 - (time.monotonic() - killed_at)))
    config = RefineConfig(min_new_feedback=10, steps=30, lr=0.1, batch_size=16)
    outcome = Refiner(
        store, lm, fresh, config=config, eval_sets=EvalSets(tasks={"t": EVAL})
    ).refine("t")
    assert outcome.action in ("promoted", "rejected"), outcome.summary()
    assert {j.status for j in store.list_jobs("t")} == {"expired", "succeeded"}
    assert len([r for r in store.list_prompt_versions("t") if r.status == "active"]) == 1


def test_two_refiner_processes_one_trains_one_skips(store, lm, registry, tmp_path):
    store_feedback(store, 40)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    procs = [
        worker(store, registry, tmp_path, "--steps", "150", "--ready", str(r), "--go", str(go))
        for r in ready
    ]
    try:
        wait_for(lambda: all(r.exists() for r in ready), procs, 120)
        go.touch()  # both refine from this moment
        outs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    outcomes = [json.loads(out.splitlines()[-1]) for out, _ in outs]
    trained = [o for o in outcomes if o["action"] in ("promoted", "rejected")]
    skipped = [o for o in outcomes if o["action"] == "skipped"]
    assert len(trained) == len(skipped) == 1, outcomes
    assert "another refiner holds the lease" in skipped[0]["reason"]
    assert [v.version for v in store.list_prompt_versions("t")] == [1, 2]
    assert [j.status for j in store.list_jobs("t")] == ["succeeded"]
