"""`softloop serve`: its help, its one-line errors, and a real server process from start to
Ctrl-C; the web modules do not import torch."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from click.testing import CliRunner

from softloop.agent.cli import cli
from softloop.agent.store import Store
from tests.runs import build_run

ROOT = Path(__file__).resolve().parents[3]
# Bounds on waiting for a condition, not expectations of speed: the server process imports the
# store (and today torch with it) on a busy two-core machine; only a hang should take this long.
WAIT_S = 180


def test_help_gives_an_example() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output and "softloop serve --port 8765" in result.output
    assert "--host" in result.output and "--db" in result.output
    assert "serve" in CliRunner().invoke(cli, ["--help"]).output


def test_a_port_in_use_is_one_line(store: Store) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--db", store.url, "--port", str(port)])
    assert result.exit_code != 0
    assert f"cannot listen on 127.0.0.1:{port}" in str(result.exception)
    assert "choose another --port" in str(result.exception)


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nothing-here.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "softloop.agent.cli", "serve", "--db", url, "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: there is no database file at ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _lines(stream) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_serve_prints_its_url_serves_and_stops_on_ctrl_c(store: Store) -> None:
    run = build_run(input="hello", answers=("olleh",))
    store.record_run(run)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("SOFTLOOP_REVIEW_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "softloop.agent.cli", "serve", "--db", store.url, "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = _lines(proc.stdout)
        first = out.get(timeout=WAIT_S)
        assert first.startswith("serving the review page of ") and "(Ctrl-C stops)" in first
        url = first.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert "set SOFTLOOP_REVIEW_TOKEN to require one" in out.get(timeout=WAIT_S)

        page = httpx.get(url, timeout=WAIT_S)
        assert page.status_code == 200 and run.id.hex[:8] in page.text
        assert httpx.get(f"{url}runs/{run.id.hex[:8]}", timeout=WAIT_S).status_code == 200
        # Bound to loopback, it answers to loopback names only (no DNS rebinding).
        rebound = httpx.get(url, headers={"Host": "evil.example"}, timeout=WAIT_S)
        assert rebound.status_code == 400

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=WAIT_S) == 0
        rest = "".join(iter(lambda: out.get(timeout=WAIT_S), "stopped\n"))
        assert rest == ""
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _imported(code: str) -> list[str]:
    names = "('torch', 'transformers')"
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {names} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_review_page_does_not_import_torch(tmp_path: Path) -> None:
    assert _imported("import softloop.agent.store") == []
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code = (
        "from softloop.agent.web import create_app\n"
        "import softloop.agent.cli.serve\n"
        f"create_app({url!r})"
    )
    assert _imported(code) == []
