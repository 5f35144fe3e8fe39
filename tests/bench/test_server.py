"""The repository's `langgraph.json` served by LangGraph's own in-memory server, driven with
`langgraph-sdk` as a user would: answers, streamed steps, stored runs, the run's knobs, and a
promotion picked up without a restart, on SQLite and PostgreSQL.

The server is `langgraph dev` as a real process bound to 127.0.0.1, with everything that would
reach the network turned off; it serves the embedded reference model (no SOFTLOOP_MODEL).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from softloop.agent.server import LoopOutput
from softloop.agent.store import Store
from softloop.bench import get_task
from tests.databases import BACKENDS, PgServer

# Each backend starts a server process that imports torch and loads the model.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GRAPH = "softloop"  # the graph's id in langgraph.json
# The server imports torch, transformers and LangGraph's API and loads the model before it
# answers /ok: seconds alone, but this machine's two cores are shared with long experiments.
# The bound only turns a server that never comes up into a failure instead of a hung run.
READY_WITHIN_S = 300
# Whatever LangGraph's tools would otherwise send out (usage analytics, a PyPI version check,
# LangSmith tracing): the server must work offline.
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}
# Runs the server executes at once, all on its one model and store.
JOBS = 4
PATH_INPUT = "c h;bc cx bh"  # from c to h over the edges bc, cx, bh
DROPPED_ENV = ("SOFTLOOP_MODEL", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGGRAPH_API_KEY")


@dataclass
class Served:
    url: str
    store: Store  # the server's database, read and written from the test
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def langgraph_command() -> str:
    """The `langgraph` command of the interpreter running the tests."""
    beside = Path(sys.executable).with_name("langgraph")
    found = str(beside) if beside.exists() else shutil.which("langgraph")
    assert found, 'the `langgraph` command is missing: pip install -e ".[dev]"'
    return found


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited ({process.returncode}):\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"langgraph dev did not answer /ok within {READY_WITHIN_S} s:\n{tail(log)}")


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def migrated_url(backend: str, request: pytest.FixtureRequest, tmp: Path) -> str:
    if backend == "sqlite":
        path = tmp / "softloop.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    pg: PgServer = request.getfixturevalue("pg_server")
    url = pg.create("_served")
    with Store(url, auto_upgrade=False) as store:
        store.upgrade()
    request.addfinalizer(lambda: pg.drop(url))
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`langgraph dev` on the repository's langgraph.json, over a fresh database."""
    tmp = tmp_path_factory.mktemp(f"served-{request.param}")
    db_url = migrated_url(request.param, request, tmp)
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(OFFLINE_ENV)
    env.update(
        SOFTLOOP_DATABASE_URL=db_url,
        SOFTLOOP_HOME=str(tmp / "home"),
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    command = [langgraph_command(), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--config", str(ROOT / "langgraph.json")]
    command += ["--n-jobs-per-worker", str(JOBS)]
    with log.open("wb") as out:
        # Run from a scratch folder: the dev server keeps its own state in ./.langgraph_api.
        process = subprocess.Popen(
            command, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_ready(url, process, log)
        with Store(db_url, auto_upgrade=False) as store:
            yield Served(url=url, store=store, process=process)
    finally:
        stop(process)


@pytest.fixture
def client(served: Served) -> SyncLangGraphClient:
    return get_sync_client(url=served.url, api_key=None)


def test_wait_returns_the_answer_its_run_id_and_trajectory(
    served: Served, client: SyncLangGraphClient
) -> None:
    out = client.runs.wait(None, GRAPH, input={"task": "path", "input": PATH_INPUT})
    assert isinstance(out, dict)
    assert set(out) <= set(LoopOutput.model_fields)  # the result, not the loop's working state
    final = LoopOutput.model_validate(out)
    assert final.final_output in [a.output for a in final.attempts]
    for attempt in final.attempts:  # judged by the world's oracle, beside the critic
        assert attempt.oracle_correct == get_task("path").check(PATH_INPUT, attempt.output)
    assert final.run_id is not None and final.store_error is None
    stored = served.store.get_run(final.run_id)
    assert (stored.task, stored.input) == ("path", PATH_INPUT)
    assert (stored.final_output, stored.status) == (final.final_output, final.status)
    assert [a.output for a in stored.attempts] == [a.output for a in final.attempts]
    assert final.selection is not None
    assert stored.prompt_versions == final.selection.versions()


def test_stream_shows_each_attempt_and_critique_as_the_run_goes(
    served: Served, client: SyncLangGraphClient
) -> None:
    # A confidence bar no answer is likely to clear, so the run revises.
    context = {"max_rounds": 3, "confidence_threshold": 1.0}
    parts = list(
        client.runs.stream(
            None,
            GRAPH,
            input={"task": "triangle", "input": "hs sj jh sf"},
            stream_mode="updates",
            context=context,
        )
    )
    updates = [part.data for part in parts if part.event == "updates"]
    assert [part.event for part in parts if part.event not in ("updates", "metadata")] == []
    steps = [next(iter(update)) for update in updates]
    assert steps[:2] == ["generate", "critique"] and steps[-1] == "finish"
    attempts = [u["critique"]["attempts"][0] for u in updates if "critique" in u]
    # Each attempt's critique decides the next step, as the loop's edges say.
    for i, step in enumerate(steps[1:-1], start=1):
        if step == "critique":
            verdict = updates[i]["critique"]["attempts"][0]["critique"]["verdict"]
            last_round = steps[: i + 1].count("critique") == context["max_rounds"]
            assert steps[i + 1] == ("finish" if verdict == "pass" or last_round else "revise")
        if step == "revise":
            assert steps[i + 1] in ("critique", "finish")
    assert len(attempts) <= 3
    run_id = updates[-1]["finish"]["run_id"]
    stored = served.store.get_run(run_id)
    assert stored.rounds == len(attempts)
    assert [a.output for a in stored.attempts] == [a["output"] for a in attempts]
    assert [a.critiques[0].verdict for a in stored.attempts] == [
        a["critique"]["verdict"] for a in attempts
    ]
    assert stored.final_output == updates[-1]["finish"]["final_output"]


def test_the_run_context_sets_max_rounds_and_the_critic(
    served: Served, client: SyncLangGraphClient
) -> None:
    request = {"task": "path", "input": PATH_INPUT}
    one = client.runs.wait(None, GRAPH, input=request, context={"max_rounds": 1})
    assert isinstance(one, dict)
    assert len(one["attempts"]) == 1
    assert served.store.get_run(one["run_id"]).rounds == 1
    # The same knobs through config["configurable"], as older clients send them: 0 leaves the
    # confidence check out (the critique prompt judges alone); 1.0 puts it first.
    judged = client.runs.wait(
        None, GRAPH, input=request, config={"configurable": {"confidence_threshold": 0}}
    )
    doubting = client.runs.wait(
        None, GRAPH, input=request, config={"configurable": {"confidence_threshold": 1.0}}
    )
    default = client.runs.wait(None, GRAPH, input=request)
    assert isinstance(judged, dict) and isinstance(default, dict) and isinstance(doubting, dict)
    assert judged["attempts"][0]["critique"]["critic"] == "critique@1"
    # By default the task prompt's confidence and the critique prompt judge this task together,
    # as fitted on its dev answers and recorded with the shipped critique prompt.
    assert default["attempts"][0]["critique"]["critic"] == "confidence-mean:path@1 x critique@1"
    # At 1.0 the confidence judges first and no answer clears it.
    assert doubting["attempts"][0]["critique"]["critic"].startswith("confidence")
    assert doubting["attempts"][0]["critique"]["verdict"] == "fail"


def test_a_promoted_prompt_is_served_at_the_next_run_without_a_restart(
    served: Served, client: SyncLangGraphClient
) -> None:
    request = {"task": "gap", "input": "ab ac bc cd bd"}
    before = client.runs.wait(None, GRAPH, input=request)
    assert isinstance(before, dict)
    assert before["selection"]["task"] == {"name": "gap", "version": 1}
    # What the refiner does once a candidate beats the active version: register it, promote it.
    active = served.store.active_version("gap")
    assert active is not None
    served.store.add_prompt_version("gap", "task", active.path, active.sha256, parent=1)
    served.store.promote("gap", 2)
    after = client.runs.wait(None, GRAPH, input=request)
    assert isinstance(after, dict)
    assert served.process.poll() is None  # the same server process
    assert after["selection"]["task"] == {"name": "gap", "version": 2}
    assert {a["prompt"]["version"] for a in after["attempts"] if a["prompt"]["name"] == "gap"}
    assert served.store.get_run(after["run_id"]).prompt_versions["gap"] == 2


def test_concurrent_runs_share_the_model_and_store_and_answer_as_alone(
    served: Served, client: SyncLangGraphClient
) -> None:
    pairs = [("path", PATH_INPUT), ("triangle", "hs sj jh sf"), ("via", "gy;qg qy ny")]
    pairs += [("gap", "ab ac bc cd bd"), ("sum", "5;3240"), ("diff", "2;2798")]
    requests = [{"task": task, "input": text} for task, text in pairs]
    context = {"confidence_threshold": 1.0}  # revise rounds too, not only first attempts

    def wait(request: dict) -> dict:
        out = client.runs.wait(None, GRAPH, input=request, context=context)
        assert isinstance(out, dict)
        return out

    with ThreadPoolExecutor(JOBS) as pool:
        together = list(pool.map(wait, requests))
    alone = [wait(request) for request in requests]  # sampling is seeded per run and round
    assert [[a["output"] for a in out["attempts"]] for out in together] == [
        [a["output"] for a in out["attempts"]] for out in alone
    ]
    run_ids = {out["run_id"] for out in together + alone}
    assert len(run_ids) == 2 * len(requests)
    for out in together:
        assert served.store.get_run(out["run_id"]).final_output == out["final_output"]


def test_clients_see_the_input_output_and_context_schemas(client: SyncLangGraphClient) -> None:
    [assistant] = client.assistants.search(graph_id=GRAPH)
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    assert set(schemas["input_schema"]["properties"]) == {"task", "input"}
    assert {"final_output", "run_id", "attempts"} <= set(schemas["output_schema"]["properties"])
    context = schemas["context_schema"]
    assert set(context["properties"]) == {"max_rounds", "confidence_threshold"}


def test_an_unknown_task_fails_the_run_and_stores_nothing(
    served: Served, client: SyncLangGraphClient
) -> None:
    runs_before = len(served.store.list_runs(limit=1000))
    # The server passes on the error's type; its message (which names the known way to add a
    # task prompt) stays in the server's log, as LangGraph does for errors it does not know.
    with pytest.raises(Exception, match="RegistryError"):
        client.runs.wait(None, GRAPH, input={"task": "nope", "input": "x"})
    assert len(served.store.list_runs(limit=1000)) == runs_before
    assert served.process.poll() is None
