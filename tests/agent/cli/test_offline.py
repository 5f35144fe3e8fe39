"""`softloop run` with the database down at start (issue 16, defect 5).

The agent must still answer: with the prompt versions it last saw active (kept under
$SOFTLOOP_HOME), or with the world's shipped prompts if it never saw any; it says so in one line
on stderr, and spools the run, which `softloop db replay` stores once the database is back.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from softloop.agent.cli import cli
from softloop.agent.cli.options import CliContext
from softloop.agent.store import Store
from softloop.agent.world import World
from tests.agent.cli.driver import TASK

DEAD = "postgresql+psycopg://postgres@127.0.0.1:1/softloop"


def run(url: str, home: Path, *args: str, world: World | None = None) -> Result:
    env = {"SOFTLOOP_DATABASE_URL": url, "SOFTLOOP_HOME": str(home)}
    obj = CliContext(world_factory=(lambda: world) if world else None)
    return CliRunner().invoke(cli, ["run", *args], env=env, obj=obj)


def test_with_the_database_down_a_world_answers_with_its_shipped_prompts(
    model_dir: Path, prompt_dirs: dict[str, Path], home: Path
) -> None:
    world = World(model_path=model_dir, model_id="tiny-llama", default_prompts=prompt_dirs)
    result = run(DEAD, home, "--task", TASK, "abc", world=world)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "run not stored"
    assert "final: " in result.stdout
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: cannot reach the database")
    assert f"answered with the shipped prompts (critique@0, revise@0, {TASK}@0)" in warning
    [spooled] = (home / "unsaved-runs.jsonl").read_text().splitlines()
    assert json.loads(spooled)["prompt_versions"] == {TASK: 0, "critique": 0, "revise": 0}


class Proxy:
    """A TCP forwarder to PostgreSQL that can be switched off: the same URL, then unreachable."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                s.close()

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close alone would not
        self.listener.close()
        for s in self.open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_with_the_database_down_the_last_known_versions_answer_and_replay_stores_the_run(
    store: Store, registered, model_dir: Path, home: Path
) -> None:
    proxy = Proxy()
    url = store.url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    try:
        up = run(url, home, "--model", str(model_dir), "--task", TASK, "abc")
        assert up.exit_code == 0 and up.stderr == "", up.output
    finally:
        proxy.close()
    assert (home / "active-prompts.json").is_file()

    down = run(url, home, "--model", str(model_dir), "--task", TASK, "abd")
    assert down.exit_code == 0, down.output
    [warning] = down.stderr.splitlines()
    assert "prompt versions last seen active (critique@1, revise@1, t@1)" in warning
    assert "softloop db replay" in warning
    assert [r.input for r in store.list_runs()] == ["abc"]

    env = {"SOFTLOOP_DATABASE_URL": store.url, "SOFTLOOP_HOME": str(home)}
    replayed = CliRunner().invoke(cli, ["db", "replay"], env=env)
    assert replayed.exit_code == 0 and "replayed 1 run" in replayed.output
    assert sorted(r.input for r in store.list_runs()) == ["abc", "abd"]
    assert store.list_runs(search="abd")[0].prompt_versions == {TASK: 1, "critique": 1, "revise": 1}
