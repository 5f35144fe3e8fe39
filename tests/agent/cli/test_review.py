"""The review commands as a user drives them: click's runner, and a real subprocess."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from softloop.agent.cli import cli
from softloop.agent.cli.review import BadDateError, parse_when
from softloop.agent.store import RunNotFoundError, SchemaOutdatedError, Store
from tests.agent.cli.driver import softloop

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def runs(store: Store, make_run) -> list:
    now = datetime.now(UTC)
    records = [
        make_run(
            task="reverse", input="hello", answers=("olleh",), created_at=now - timedelta(days=2)
        ),
        make_run(
            task="reverse",
            input="stressed",
            answers=("dessertz", "desserts"),
            created_at=now - timedelta(hours=1),
            latency_s=0.42,
        ),
        make_run(
            task="add",
            input="2+2",
            answers=("5", "3", "22"),
            status="gave_up",
            prompt_versions={"add": 4},
            created_at=now,
        ),
    ]
    for r in records:
        store.record_run(r)
    return records


def invoke(store: Store, *args: str, input: str | None = None):
    return CliRunner().invoke(
        cli, list(args), env={"SOFTLOOP_DATABASE_URL": store.url}, input=input
    )


def test_history_lists_runs_as_a_table_and_as_json(store: Store, runs) -> None:
    result = invoke(store, "history")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["ID", "CREATED", "(UTC)", "TASK"]
    assert [line.split()[0] for line in lines[1:]] == [r.id.hex[:8] for r in reversed(runs)]
    assert "gave_up" in lines[1] and "2+2" in lines[1]

    result = invoke(store, "history", "--task", "reverse", "--since", "1d", "--json")
    assert [row["input"] for row in json.loads(result.output)] == ["stressed"]
    assert invoke(store, "history", "--search", "nothing-like-it").output == "No runs match.\n"
    assert len(json.loads(invoke(store, "history", "--limit", "1", "--json").output)) == 1
    result = invoke(store, "history", "--prompt", "add@4", "--status", "gave_up", "--json")
    assert [row["task"] for row in json.loads(result.output)] == ["add"]


def test_show_renders_the_trajectory(store: Store, runs) -> None:
    run = runs[1]
    result = invoke(store, "show", run.id.hex[:6])
    assert result.exit_code == 0, result.output
    text = result.output
    order = [
        "input: stressed",
        "attempt 1",
        "→ dessertz",
        "FAIL 0.20",
        "attempt 2",
        "→ desserts",
        "PASS 0.90",
        "final: desserts",
        "status: passed after 2 rounds, 0.42 s",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert "oracle: wrong" in text and "oracle: right" in text

    data = json.loads(invoke(store, "show", str(run.id), "--json").output)
    assert data["id"] == str(run.id) and len(data["attempts"]) == 2


def test_label_then_show(store: Store, runs) -> None:
    run = runs[2]
    result = invoke(
        store, "label", run.id.hex[:8], "--incorrect", "--answer", "4", "--author", "ann"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"labelled run {run.id} incorrect")
    assert (
        "label: incorrect, answer '4', by ann (human)" in invoke(store, "show", str(run.id)).output
    )
    result = invoke(store, "label", run.id.hex[:8])
    assert "--correct or --incorrect" in str(result.exception)


def test_stats_by_prompt_day_and_total(store: Store, runs) -> None:
    by_prompt = invoke(store, "stats")
    assert by_prompt.exit_code == 0, by_prompt.output
    assert by_prompt.output.splitlines()[0].split() == [
        "PROMPT",
        "RUNS",
        "PASS",
        "FIRST-TRY",
        "PASS",
        "MEAN",
        "ROUNDS",
    ]
    assert any(
        line.split()[:3] == ["reverse@1", "2", "100.0%"] for line in by_prompt.output.splitlines()
    )
    assert by_prompt.output.splitlines()[-1].split() == [
        "all",
        "runs",
        "3",
        "66.7%",
        "33.3%",
        "2.00",
    ]
    data = json.loads(invoke(store, "stats", "--by", "day", "--json").output)
    assert data["total"]["runs"] == 3 and sum(r["runs"] for r in data["rows"]) == 3
    data = json.loads(invoke(store, "stats", "--by", "none", "--task", "add", "--json").output)
    assert data["rows"] == [] and data["total"]["pass_rate"] == 0.0


def test_export_writes_jsonl(store: Store, runs, tmp_path) -> None:
    out = tmp_path / "runs.jsonl"
    result = invoke(store, "export", str(out), "--task", "reverse")
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["input"] for line in out.read_text().splitlines()} == {
        "hello",
        "stressed",
    }


def test_user_errors_are_softloop_errors(store: Store, runs) -> None:
    assert isinstance(invoke(store, "show", "ffff").exception, RunNotFoundError)
    assert isinstance(invoke(store, "history", "--since", "last week").exception, BadDateError)


def test_db_commands(empty_db_url: str) -> None:
    env = {"SOFTLOOP_DATABASE_URL": empty_db_url}
    run = CliRunner().invoke
    assert run(cli, ["db", "current"], env=env).output.startswith("none (empty database")
    assert isinstance(run(cli, ["history"], env=env).exception, SchemaOutdatedError)
    head = Store.head_revision()
    result = run(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0 and f"from an empty schema to {head}" in result.output
    assert run(cli, ["db", "current"], env=env).output == f"{head} (head)\n"
    assert run(cli, ["history"], env=env).output == "No runs match.\n"
    assert run(cli, ["db", "downgrade", "base"], env=env, input="n\n").exit_code == 1  # aborted
    result = run(cli, ["db", "downgrade", "base", "--yes"], env=env)
    assert result.exit_code == 0 and "base (empty)" in result.output


def test_parse_when() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_when("7d", now=now) == now - timedelta(days=7)
    assert parse_when("12h", now=now) == now - timedelta(hours=12)
    assert parse_when("1.5w", now=now) == now - timedelta(weeks=1.5)
    assert parse_when("today", now=now) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_when("yesterday", now=now) == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_when("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_when("2026-11-01T10:00+02:00") == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(BadDateError, match="cannot read --until '7x'"):
        parse_when("7x", "--until")


def test_a_real_subprocess_prints_history(store: Store, runs, tmp_path) -> None:
    done = softloop("history", "--task", "add", home=tmp_path, db_url=store.url)
    assert done.returncode == 0, done.stderr
    assert runs[2].id.hex[:8] in done.stdout and "gave_up" in done.stdout


def test_a_real_subprocess_reports_errors_in_one_line(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'softloop.db'}"
    Store(url).upgrade()
    done = softloop("show", "0000dead", home=tmp_path, db_url=url)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: no run has an id starting with '0000dead'; list runs with `softloop history`"
    ]
    done = softloop(
        "history", home=tmp_path, db_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:1/nowhere "
        "(connection refused); check SOFTLOOP_DATABASE_URL or start the server"
    ]
