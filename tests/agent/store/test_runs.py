"""Writing and reading runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from softloop.agent.store import (
    AmbiguousRunIdError,
    RunNotFoundError,
    RunRecord,
    Store,
    StoreError,
)


def test_round_trip_keeps_the_whole_trajectory(store: Store, make_run) -> None:
    record = make_run(input="abc", answers=("cbx", "cbb", "cba"), metadata={"seed": 7})
    run_id = store.record_run(record)
    store.add_label(run_id, correct=True, answer="cba", source="oracle")
    store.add_label(str(run_id)[:8], correct=False, author="alice")

    run = store.get_run(run_id)
    assert run.id == record.id == run_id
    assert (run.task, run.input, run.final_output, run.status) == (
        "reverse",
        "abc",
        "cba",
        "passed",
    )
    assert run.rounds == 3 and run.metadata == {"seed": 7}
    assert run.prompt_versions == {"reverse": 1, "critique": 1, "revise": 1}
    assert [a.round for a in run.attempts] == [1, 2, 3]
    assert [a.output for a in run.attempts] == ["cbx", "cbb", "cba"]
    assert [a.oracle_correct for a in run.attempts] == [False, False, True]
    assert [c.verdict for a in run.attempts for c in a.critiques] == ["fail", "fail", "pass"]
    assert run.attempts[0].critiques[0].feedback == "round 1: not the reverse"
    assert [(lb.correct, lb.source, lb.author) for lb in run.labels] == [
        (True, "oracle", None),
        (False, "human", "alice"),
    ]
    assert run.created_at.tzinfo is not None
    assert abs(run.created_at - record.created_at) < timedelta(milliseconds=1)


def test_recording_the_same_record_twice_writes_it_once(store: Store, make_run) -> None:
    record = make_run()
    assert store.record_run(record) == store.record_run(record)
    # A retry built from the same key but a new id (e.g. rebuilt after a crash) is still one run.
    again = RunRecord(**{**record.model_dump(), "id": uuid.uuid4()})
    assert store.record_run(again) == record.id
    assert len(store.list_runs()) == 1
    assert len(store.get_run(record.id).attempts) == 2


def test_a_different_run_reusing_an_id_is_refused_and_writes_nothing(
    store: Store, make_run
) -> None:
    first = make_run(input="abc")
    store.record_run(first)
    clash = make_run(id=first.id, input="xyz")  # same id, its own idempotency key
    with pytest.raises(StoreError, match=f"a different run with id {first.id} is already stored"):
        store.record_run(clash)
    [only] = store.list_runs()
    assert only.id == first.id and store.get_run(first.id).input == "abc"
    assert store.stats().total.runs == 1  # the refused run added nothing to the hourly counts


def test_get_run_accepts_a_unique_prefix_like_git(store: Store, make_run) -> None:
    a = make_run(id=uuid.UUID("aaaa1111-0000-0000-0000-000000000000"))
    b = make_run(id=uuid.UUID("aaaa2222-0000-0000-0000-000000000000"))
    store.record_run(a)
    store.record_run(b)
    assert store.get_run("aaaa1").id == a.id
    assert store.get_run("AAAA-2222").id == b.id
    with pytest.raises(AmbiguousRunIdError, match="matches several runs"):
        store.get_run("aaaa")
    with pytest.raises(RunNotFoundError, match="no run has an id starting with 'bbbb'"):
        store.get_run("bbbb")
    with pytest.raises(RunNotFoundError, match="not a run id"):
        store.get_run("xyz!")
    with pytest.raises(RunNotFoundError):
        store.get_run(uuid.uuid4())
    with pytest.raises(RunNotFoundError):
        store.add_label("cccc", correct=True)


def test_history_filters(store: Store, make_run) -> None:
    now = datetime.now(UTC)
    rows = [
        make_run(task="reverse", input="abc", status="passed", created_at=now - timedelta(days=3)),
        make_run(
            task="reverse",
            input="xyz",
            answers=("zyx",),
            status="passed",
            created_at=now - timedelta(hours=2),
        ),
        make_run(
            task="sort",
            input="cab",
            answers=("acb", "abd"),
            status="gave_up",
            prompt_versions={"sort": 2},
            created_at=now - timedelta(hours=1),
        ),
        make_run(
            task="sort",
            input="50%_off",
            answers=("x",),
            status="failed",
            prompt_versions={"sort": 3},
            created_at=now,
        ),
    ]
    for r in rows:
        store.record_run(r)

    def ids(**filters) -> list[uuid.UUID]:
        return [r.id for r in store.list_runs(**filters)]

    assert ids() == [r.id for r in reversed(rows)]  # newest first
    assert ids(task="reverse") == [rows[1].id, rows[0].id]
    assert ids(status="gave_up") == [rows[2].id]
    assert ids(since=now - timedelta(days=1)) == [rows[3].id, rows[2].id, rows[1].id]
    assert ids(until=now - timedelta(minutes=30)) == [rows[2].id, rows[1].id, rows[0].id]
    assert ids(prompt_version="sort@2") == [rows[2].id]
    assert ids(prompt_version=("sort", 3)) == [rows[3].id]
    assert ids(prompt_version="sort") == [rows[3].id, rows[2].id]
    assert ids(search="XY") == [rows[1].id]  # case-insensitive, input or final answer
    assert ids(search="ABD") == [rows[2].id]
    assert ids(search="%_") == [rows[3].id]  # LIKE wildcards are literal
    assert ids(task="sort", status="failed", since=now - timedelta(hours=1)) == [rows[3].id]
    assert ids(limit=2, offset=1) == [rows[2].id, rows[1].id]
    with pytest.raises(StoreError, match="NAME@VERSION"):
        store.list_runs(prompt_version="sort@latest")


def test_stats_totals_and_groups(store: Store, make_run) -> None:
    day1 = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    day2 = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)
    store.record_run(make_run(answers=("cba",), created_at=day1))  # passed at once
    store.record_run(make_run(answers=("x", "cba"), created_at=day1))  # passed on round 2
    store.record_run(
        make_run(
            answers=("x", "y", "z"),
            status="gave_up",
            created_at=day2,
            prompt_versions={"reverse": 2},
        )
    )
    store.record_run(
        make_run(task="sort", answers=("a",), created_at=day2, prompt_versions={"sort": 1})
    )

    report = store.stats(task="reverse", by="day")
    assert report.total.runs == 3
    assert report.total.pass_rate == pytest.approx(2 / 3)
    assert report.total.first_attempt_pass_rate == pytest.approx(1 / 3)
    assert report.total.mean_rounds == pytest.approx(2.0)
    assert [(r.key, r.runs) for r in report.rows] == [("2026-11-01", 2), ("2026-11-02", 1)]

    by_prompt = {r.key: r for r in store.stats(by="prompt_version").rows}
    assert by_prompt["reverse@1"].runs == 2 and by_prompt["reverse@1"].pass_rate == 1.0
    assert by_prompt["reverse@2"].pass_rate == 0.0
    assert by_prompt["sort@1"].first_attempt_pass_rate == 1.0
    assert store.stats(since=day2, by=None).total.runs == 2
    assert store.stats(task="nope").total.runs == 0
    with pytest.raises(StoreError, match="cannot group stats"):
        store.stats(by="hour")  # type: ignore[arg-type]


def test_export_jsonl_writes_full_trajectories(store: Store, make_run, tmp_path) -> None:
    for i in range(5):
        store.record_run(make_run(input=f"in{i}", task="reverse" if i % 2 else "sort"))
    path = tmp_path / "runs.jsonl"
    assert store.export_jsonl(path, task="sort") == 3
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {row["input"] for row in lines} == {"in0", "in2", "in4"}
    assert all(len(row["attempts"]) == 2 and row["attempts"][0]["critiques"] for row in lines)
    buffer = io.StringIO()
    assert store.export_jsonl(buffer) == 5


def test_bad_records_are_refused_before_the_database(make_run) -> None:
    with pytest.raises(ValueError, match="unique"):
        RunRecord(
            task="t",
            input="i",
            status="passed",
            attempts=[{"round": 1, "output": "a"}, {"round": 1, "output": "b"}],
        )
    with pytest.raises(ValueError):
        RunRecord(task="t", input="i", status="maybe")


def test_iter_runs_pages_by_key_without_repeats(store: Store, make_run) -> None:
    same_time = datetime(2026, 11, 1, tzinfo=UTC)
    records = [make_run(input=f"r{i}", created_at=same_time) for i in range(5)]
    for r in records:
        store.record_run(r)
    seen = [r.id for r in store.iter_runs(batch_size=2)]
    assert sorted(seen) == sorted(r.id for r in records) and len(seen) == 5


def test_a_store_survives_fork(store: Store, make_run) -> None:
    import multiprocessing

    store.record_run(make_run())  # the parent's pool now holds a connection
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=store.record_run, args=(make_run(input="from child"),))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert {r.input for r in store.list_runs()} == {"abc", "from child"}


def test_stats_from_rollups_equal_stats_over_every_run(store: Store, make_run) -> None:
    import random

    rng = random.Random(4)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for _ in range(60):
        rounds = rng.choice((1, 2, 3))
        store.record_run(
            make_run(
                task=rng.choice(("reverse", "sort")),
                answers=tuple("x" * (i + 1) for i in range(rounds)),
                status=rng.choice(("passed", "gave_up")) if rounds > 1 else "passed",
                prompt_versions={"reverse": rng.randint(1, 3), "critique": 1},
                created_at=start + timedelta(minutes=rng.randint(0, 3 * 24 * 60)),
            )
        )
    windows = [
        (None, None),
        (start + timedelta(hours=5, minutes=17), None),  # ragged start: raw edge + rollups
        (None, start + timedelta(days=2, minutes=45)),  # ragged end
        (start + timedelta(hours=30, minutes=1), start + timedelta(hours=30, minutes=50)),
        (start + timedelta(days=1), start + timedelta(days=2)),  # whole hours only
    ]
    for since, until in windows:
        for by in (None, "day", "prompt_version"):
            for task in (None, "sort"):
                fast = store.stats(task=task, since=since, until=until, by=by)
                exact = store.stats(task=task, since=since, until=until, by=by, exact=True)
                assert fast == exact, (since, until, by, task)
    assert store.stats(by=None).total.runs == 60


def test_custom_units_of_work(store: Store, make_run) -> None:
    from sqlalchemy import select

    from softloop.agent.store import Attempt, Label

    run_id = store.record_run(make_run(answers=("x", "cba")))
    store.write(lambda s: s.add(Label(run_id=run_id, correct=True, source="oracle")))
    wrong_first = store.read(
        lambda s: s.scalars(select(Attempt).where(Attempt.oracle_correct.is_(False))).all()
    )
    assert [(a.run_id, a.round, a.output) for a in wrong_first] == [(run_id, 1, "x")]
    assert store.get_run(run_id).labels[0].source == "oracle"
