"""`softloop demo --quick` end to end, as a newcomer runs it: database, report and chart agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from softloop.agent.store import Store
from tests.agent.cli.driver import softloop


@pytest.mark.slow
def test_quick_demo_writes_a_consistent_database_report_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # The timeout bounds a hang, not the speed: a loaded CI machine runs this many times slower.
    proc = softloop(
        "demo", "--quick", "--out", str(out), home=tmp_path / "home", db_url=None, timeout=3600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr

    report = json.loads((out / "report.json").read_text())
    rows = report["cycles"]
    assert [r["cycle"] for r in rows] == list(range(report["config"]["cycles"] + 1))
    for r in rows:
        assert 0 <= r["first_attempt_acc"] <= 1 and 0 <= r["final_acc"] <= 1
    # Every printed row is in the report, with the same figures.
    for r in rows:
        assert f"{r['first_attempt_acc']:6.1%}" in proc.stdout

    png = (out / "improvement.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

    store = Store(report["db"])
    stored = store.list_runs(limit=100_000)
    assert len(stored) == sum(r["runs_stored"] for r in rows) > 0
    promoted = [p for r in rows for p in r["promoted"]]
    assert promoted, "the quick demo must show at least one promotion"
    for ref in promoted:
        name, version = ref.split("@")
        row = store.get_prompt_version(name, int(version))
        assert row.status in ("active", "retired") and row.promoted_at is not None
        assert Path(row.path, "prompt.safetensors").is_file()
    store.close()
    assert f"softloop history --db {report['db']}" in proc.stdout
