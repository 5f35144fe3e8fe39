"""`softloop refine --once | --every`: summaries, exit codes, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time

import click
import pytest

from softloop.agent.cli.refine import parse_duration
from softloop.agent.store import Store
from softloop.prompts import SoftloopError
from tests.agent.cli.driver import ROOT, TASK, invoke, subprocess_env
from tests.agent.refine.feedback import store_feedback


def test_refine_once_prints_one_line_per_prompt(store: Store, registered, model_dir) -> None:
    result = invoke(store, "refine", "--once", "--model", str(model_dir))
    assert result.exit_code == 0, result.output
    skipped = "skipped: not enough feedback: 0 new rows since v1, need 20"
    assert result.stdout.splitlines() == [  # the revise prompt is not a refined kind by default
        f"critique: {skipped}",
        # A task line says whether the critic's passes are used, and on what evidence.
        f"{TASK}: {skipped} [critic passes unused: no known answers yet]",
    ]
    result = invoke(store, "refine", "--once", "--json", "--names", TASK, "--model", str(model_dir))
    [outcome] = json.loads(result.stdout)
    assert (outcome["name"], outcome["action"]) == (TASK, "skipped")
    assert store.list_jobs() == []


def test_a_failed_refinement_exits_non_zero(store: Store, registered, model_dir, monkeypatch):
    store_feedback(store, 30)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("softloop.agent.refine.refiner.train_prompt", broken)
    args = ["--once", "--names", TASK, "--min-feedback", "5", "--model", str(model_dir)]
    result = invoke(store, "refine", *args)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{TASK}: failed: boom"]
    assert isinstance(result.exception, SoftloopError)
    assert str(result.exception) == f"1 refinement failed: {TASK}"
    [job] = store.list_jobs(TASK)
    assert job.status == "failed" and "boom" in job.error
    assert store.active_version(TASK).version == 1


def test_usage_errors_need_no_model() -> None:
    from click.testing import CliRunner

    from softloop.agent.cli import cli

    for args in ([], ["--once", "--every", "1m"]):
        result = CliRunner().invoke(cli, ["refine", *args])
        assert result.exit_code == 2 and "exactly one of --once or --every" in result.output
    result = CliRunner().invoke(cli, ["refine", "--every", "soon"])
    assert result.exit_code == 2 and "'soon' is not a duration" in result.output
    assert [parse_duration(t) for t in ("30s", "10m", "1h", "1.5", "2 M")] == [
        30,
        600,
        3600,
        1.5,
        120,
    ]
    with pytest.raises(click.BadParameter):
        parse_duration("0s")


def read_until(proc: subprocess.Popen, n_lines: int, timeout: float) -> list[str]:
    """The first `n_lines` lines of the process's stdout, failing after `timeout` seconds."""
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while len(lines) < n_lines:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            proc.kill()
            pytest.fail(f"no output after {timeout}s; got {lines}; stderr: {proc.stderr.read()}")
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"exited early ({proc.wait()}); got {lines}; stderr: {proc.stderr.read()}")
        lines.append(line.rstrip("\n"))
    return lines


@pytest.mark.slow
def test_refine_every_stops_cleanly_on_sigterm(store: Store, registered, model_dir, home) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "softloop.bench.cli",
            "refine",
            "--every",
            "1s",
            "--model",
            str(model_dir),
        ],
        cwd=ROOT,
        env=subprocess_env(home, store.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_round = read_until(proc, 2, timeout=120)
        assert [line.split(" ", 2)[2].split(":")[0] for line in first_round] == ["critique", TASK]
        proc.send_signal(signal.SIGTERM)
        # A bound against a hang, not a speed check: an idle worker stops at once, a busy
        # machine may still take a while to schedule it.
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "stopped"
    assert "Traceback" not in err
    # It was idle: it left no job behind, and the registry is as it was.
    assert store.list_jobs() == []
    assert {r.ref for r in store.list_prompt_versions() if r.status == "active"} == {
        "critique@1",
        "revise@1",
        f"{TASK}@1",
    }
