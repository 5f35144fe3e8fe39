"""`python -m softloop.bench.perf --quick`: the report has the shape the issue asks for."""

from __future__ import annotations

import json

import pytest

from softloop.bench import perf


@pytest.mark.slow
def test_quick_run_reports_every_ratio_with_checked_answers(capsys: pytest.CaptureFixture) -> None:
    perf.main(["--quick", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"ratios", "configs", "raw"}
    assert set(report["ratios"]) == set(perf.RATIOS)
    assert report["ratios"]["loop_concurrency"] is None  # --quick leaves the loop out
    assert [c["name"] for c in report["configs"]] == ["reference", "llama-tiny"]
    for config in report["configs"]:
        ratios = config["ratios"]
        assert all(ratios[k] > 0 for k in perf.RATIOS if k != "loop_concurrency")
        raw = report["raw"][config["name"]]
        matches = raw["mixed"]["matches_reference"]
        # softloop, with or without its caches, and repaired PEFT one at a time are exact.
        assert matches["softloop"] == matches["plain"] == matches["single"] == 4
        assert raw["generate"]["matches_reference"]["softloop"]
        assert raw["generate"]["new_tokens"] == 3  # every timed generation decodes all it asks
    assert "repaired" in report["meta"]["peer"]


def test_concurrent_loop_runs_answer_as_alone_and_account_their_passes() -> None:
    """Few runs, one repetition: identical answers, and the shared passes' CPU is part of the
    process's CPU over the same repetition."""
    from softloop.bench.perf_loop import loop_concurrency

    report = loop_concurrency(runs=4, per_task=1, reps=1)
    assert report["identical"] and report["passes"] > 0
    [passes], [whole] = report["passes_cpu_s"], report["concurrent_s"]
    assert 0.0 < passes <= whole + 0.01
