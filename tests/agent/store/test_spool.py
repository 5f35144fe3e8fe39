"""The spool of runs the store could not take, and its replay (issue 16, defect 4).

Runs spooled while the database was down must reach it exactly once: by `softloop db replay`
(idempotent: a second replay adds nothing), and by the loop after its next successful write.
Lines that can never be stored are reported and set aside, never silently dropped or retried
forever.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from softloop.agent.cli import cli
from softloop.agent.store import Store

DEAD = "postgresql+psycopg://postgres@127.0.0.1:1/none"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("SOFTLOOP_HOME", str(path))
    return path


def spool(records) -> None:
    """What the loop does when a write fails: the record goes to the spool."""
    from softloop.agent.graph.recording import store_record

    for record in records:

        class Down:
            def record_run(self, run):
                raise ConnectionError("the database is down")

        run_id, error = store_record(Down(), record)
        assert run_id is None and "was not stored" in error


def replay(store: Store, home: Path):
    env = {"SOFTLOOP_DATABASE_URL": store.url, "SOFTLOOP_HOME": str(home)}
    return CliRunner().invoke(cli, ["db", "replay"], env=env)


def test_db_replay_stores_each_spooled_run_once_and_reports_refusals(
    store: Store, home: Path, make_run
) -> None:
    records = [make_run(input=f"in{i}") for i in range(3)]
    stored_before = records[0]
    store.record_run(stored_before)  # its write did land, but the writer never heard back
    spool(records)
    spool([records[1]])  # spooled twice (a retried run)
    with (home / "unsaved-runs.jsonl").open("a") as out:
        out.write("this is not json\n")
        out.write(json.dumps({"unbuildable": "critic name too long", "state": {}}) + "\n")

    first = replay(store, home)
    assert "replayed 2 runs, 2 already stored, 2 refused" in first.output
    assert first.exit_code == 1 and "moved to" in str(first.exception)
    assert sorted(r.input for r in store.list_runs()) == ["in0", "in1", "in2"]
    refused = (home / "refused-runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["line"] for line in refused] == [
        "this is not json",
        json.dumps({"unbuildable": "critic name too long", "state": {}}),
    ]
    assert "could not be made into a record: critic name too long" in refused[1]

    second = replay(store, home)
    assert second.exit_code == 0 and "nothing to replay" in second.output
    assert len(store.list_runs()) == 3


def test_the_next_successful_write_replays_the_spool(store: Store, home: Path, make_run) -> None:
    from softloop.agent.graph.recording import store_record

    spool([make_run(input="while down 1"), make_run(input="while down 2")])
    run_id, error = store_record(store, make_run(input="back up"))
    assert error is None and run_id is not None
    assert sorted(r.input for r in store.list_runs()) == ["back up", "while down 1", "while down 2"]
    assert not (home / "unsaved-runs.jsonl").exists()


def test_a_replay_killed_midway_loses_nothing(store: Store, home: Path, make_run) -> None:
    spool([make_run(input="a"), make_run(input="b")])
    # A replayer killed after claiming the spool, after storing its first line.
    claimed = home / "unsaved-runs.jsonl.replaying-999-dead"
    (home / "unsaved-runs.jsonl").rename(claimed)
    from softloop.agent.store import RunRecord

    store.record_run(RunRecord.model_validate_json(claimed.read_text().splitlines()[0]))
    spool([make_run(input="c")])  # and the loop spooled more since
    result = replay(store, home)
    assert result.exit_code == 0, result.output
    assert "replayed 2 runs, 1 already stored" in result.output
    assert sorted(r.input for r in store.list_runs()) == ["a", "b", "c"]
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith(".")) == []


def test_replay_keeps_what_an_unreachable_database_cannot_take(home: Path, make_run) -> None:
    spool([make_run(input="a"), make_run(input="b")])
    result = replay(Store(DEAD), home)
    assert result.exit_code == 1 and "2 runs could not be stored yet" in str(result.exception)
    assert len((home / "unsaved-runs.jsonl").read_text().splitlines()) == 2
