"""Reliability scenario `corpus`: bad input through the command line.

Prompt files (pickles, truncated tensors, NaN weights, manifests with a traversal name, a bad
template, another model's fingerprint), requests (bad or unknown task names, an input far longer
than the model's context), JSONL training files (NaN and infinite weights, deep nesting, a 1 MB
example, bytes that are not UTF-8) and database URLs (a password in a URL that does not parse,
an unknown database kind, an unreachable server). Each case is a `softloop` process of its own,
as a user runs it: it must print one line, exit non-zero, and write nothing (no file under
`$SOFTLOOP_HOME`, no row, no output directory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from softloop.agent.store import Store
from softloop.bench.reliability_kit import (
    TASK,
    TEMPLATE,
    Databases,
    ReliabilityConfig,
    ScenarioResult,
    registry_for,
    seed_prompts,
    tiny_model,
)
from softloop.prompts import FrozenLM, SoftPrompt


def _cli(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """`softloop ARGV` as a process of its own, as a user runs it; (exit code, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "softloop.agent.cli", *argv],
        env={**os.environ, **env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stdout, done.stderr


def _snapshot(home: Path, store: Store) -> tuple[Any, ...]:
    files = sorted(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in home.rglob("*") if p.is_file()
    )
    counts = (len(store.list_prompt_versions()), len(store.list_runs(limit=10_000)))
    return tuple(files), counts


class Case(NamedTuple):
    """One bad input: the command, the words its refusal must contain, a path it must not make."""

    category: str
    name: str
    argv: list[str]
    reason: str
    must_not_exist: Path | None = None


def _corpus_cases(
    lm: FrozenLM, model: Path, other: FrozenLM, cases: Path
) -> Iterator[Case]:
    """Every bad input, each refused for a reason of its own (checked, so that a case cannot
    pass by tripping over an earlier check)."""
    from safetensors.torch import save_file

    def prompt_dir(name: str, edit: Callable[[Path], None]) -> Path:
        prompt = SoftPrompt.from_init(lm, 4, "vocab", name="good", template=TEMPLATE)
        path = prompt.save(cases / name)
        edit(path)
        return path

    def manifest(update: dict[str, Any]) -> Callable[[Path], None]:
        def edit(path: Path) -> None:
            data = json.loads((path / "manifest.json").read_text())
            data.update(update)
            (path / "manifest.json").write_text(json.dumps(data))

        return edit

    def weights(tensor: torch.Tensor) -> Callable[[Path], None]:
        return lambda path: save_file({"prompt": tensor}, str(path / "prompt.safetensors"))

    def raw(name: str, data: bytes) -> Callable[[Path], None]:
        def edit(path: Path) -> None:
            (path / name).write_bytes(data)

        return edit

    def pickled_only(path: Path) -> None:
        (path / "prompt.safetensors").unlink()
        (path / "prompt.pt").write_bytes(b"\x80\x04\x95" + b"\x00" * 20)

    def unlink_manifest(path: Path) -> None:
        (path / "manifest.json").unlink()

    foreign = SoftPrompt.from_init(other, 4, "vocab", name="good", template=TEMPLATE)
    prompt_cases: dict[str, tuple[Callable[[Path], None], str]] = {
        "pickle instead of safetensors": (pickled_only, "never loads pickle"),
        "safetensors that is a pickle": (
            raw("prompt.safetensors", b"\x80\x04\x95junk"),
            "is a pickle",
        ),
        "truncated safetensors": (
            raw("prompt.safetensors", b"\x10\x00\x00\x00\x00\x00\x00"),
            "truncated or corrupt",
        ),
        "manifest: traversal name": (manifest({"name": "../../escape"}), "is not allowed"),
        "manifest: template with a second field": (
            manifest({"template": "{input}{x}"}),
            "single field {input}",
        ),
        "manifest: not JSON": (raw("manifest.json", b"{not json"), "not a valid prompt manifest"),
        "manifest: missing": (unlink_manifest, "manifest.json is missing"),
        "manifest: shape disagrees with the tensor": (manifest({"n_tokens": 5}), "has shape"),
        "manifest: another model's fingerprint": (
            manifest({"base_fingerprint": foreign.manifest.base_fingerprint}),
            "fingerprint",
        ),
        "weights: NaN": (weights(torch.full((4, 32), float("nan"))), "NaN or infinite"),
    }
    add = ["prompts", "add", "--model", str(model), "--active"]
    for name, (edit, reason) in prompt_cases.items():
        directory = prompt_dir(name.replace(" ", "-").replace(":", "").replace("'", ""), edit)
        yield Case("prompt files", name, [*add, str(directory)], reason)
    good = prompt_dir("good", lambda path: None)
    yield Case(
        "prompt files",
        "--name with a traversal",
        [*add, str(good), "--name", "../../x"],
        "is not allowed",
    )

    run = ["run", "--model", str(model)]
    requests = {
        "task name with a traversal": (["--task", "../../x", "ab"], "is not allowed"),
        "task name too long": (["--task", "t" * 65, "ab"], "characters long"),
        "unknown task": (["--task", "nope", "ab"], "no active prompt for task 'nope'"),
        "input of 100,000 characters": (["--task", TASK, "a" * 100_000], "tokens long"),
    }
    for name, (args, reason) in requests.items():
        yield Case("requests", name, [*run, *args], reason)

    jsonl = {
        "weight NaN": (b'{"input": "a", "output": "b", "weight": NaN}\n', '"weight" nan'),
        "weight Infinity": (
            b'{"input": "a", "output": "b", "weight": Infinity}\n',
            '"weight" inf',
        ),
        "weight 1e999": (b'{"input": "a", "output": "b", "weight": 1e999}\n', '"weight" inf'),
        "weight negative": (b'{"input": "a", "output": "b", "weight": -1}\n', '"weight" -1'),
        "not JSON": (b"input=a output=b\n", "is not valid JSON"),
        "no output field": (b'{"input": "a"}\n', 'string fields "input" and "output"'),
        "nested 100,000 deep": (b"[" * 100_000 + b"\n", "nested too deeply"),
        "1 MB example": (
            b'{"input": "' + b"a" * 1_000_000 + b'", "output": "b"}\n',
            "training example 1 is",
        ),
        "lone surrogate": (b'{"input": "\\ud800", "output": "b"}\n', "unpaired surrogate"),
        "not UTF-8": (b"\xff\xfe\x00garbage\n", "cannot read"),
        "empty file": (b"", "holds no examples"),
    }
    for name, (data, reason) in jsonl.items():
        slug = name.replace(" ", "-").replace(",", "")
        path = cases / f"{slug}.jsonl"
        path.write_bytes(data)
        out = cases / f"out-{slug}"
        argv = ["train", "--model", str(model), "--data", str(path), "--out", str(out)]
        yield Case("JSONL", name, [*argv, "--name", "p", "--steps", "1"], reason, out)

    secret = "pw-in-url"
    urls = {
        "port is not a number": (
            f"postgresql://u:{secret}@127.0.0.1:port/x",
            "cannot read the database URL",
        ),
        "not a URL": (f"u:{secret}@127.0.0.1/x", "cannot read the database URL"),
        "unknown database kind": (f"nosuchdb://u:{secret}@h/x", "cannot use the database URL"),
        "driver not installed": (f"mysql://u:{secret}@h/x", "cannot use the database URL"),
        "server unreachable": (
            f"postgresql+psycopg://u:{secret}@127.0.0.1:1/x",
            "cannot reach the database",
        ),
        "SQLite file missing": (f"sqlite:///{cases}/missing/x.db", "no database file"),
    }
    for name, (bad, reason) in urls.items():
        yield Case("URLs", name, ["history", "--db", bad], reason)


def bad_input_corpus(cfg: ReliabilityConfig, lm: FrozenLM, model: Path, dbs: Databases, work: Path):
    t0 = time.perf_counter()
    url, home = dbs.create(), work / "corpus" / "home"
    cases = work / "corpus" / "cases"
    home.mkdir(parents=True)
    cases.mkdir(parents=True)
    store = Store(url, auto_upgrade=False)
    seed_prompts(store, lm, home, (TASK,))
    for name in ("critique", "revise"):
        prompt = SoftPrompt.from_init(lm, 4, "vocab", name=name, kind=name, template=TEMPLATE)
        registry_for(store, lm, home, "seed").register(prompt, status="active")
    env = {"SOFTLOOP_DATABASE_URL": url, "SOFTLOOP_HOME": str(home)}
    warm = _cli(["run", "--model", str(model), "--task", TASK, "ab"], env)  # the local copy
    assert warm[0] == 0, warm
    other = FrozenLM.from_pretrained(tiny_model(work / "corpus" / "other", seed=1))
    rows: list[dict[str, Any]] = []
    tried: Counter[str] = Counter()
    for case in _corpus_cases(lm, model, other, cases):
        if cfg.corpus_per_category is not None and tried[case.category] >= cfg.corpus_per_category:
            continue
        tried[case.category] += 1
        before = _snapshot(home, store)
        code, out, err = _cli(case.argv, env)
        after = _snapshot(home, store)
        lines = [line for line in (out + err).splitlines() if line.strip()]
        made = case.must_not_exist is not None and case.must_not_exist.exists()
        written = before != after or made
        clear = len(lines) == 1 and "Traceback" not in err and "pw-in-url" not in out + err
        why = case.reason in (lines[0] if lines else "")
        rows.append(
            {
                "category": case.category,
                "case": case.name,
                "exit": code,
                "one_line": clear,
                "for_its_reason": why,
                "written": written,
                "message": lines[0][:300] if lines else "",
                "ok": code != 0 and clear and why and not written,
            }
        )
    store.close()
    failed = [r for r in rows if not r["ok"]]
    return ScenarioResult(
        name="corpus",
        load=f"{len(rows)} bad inputs through the command line",
        faults="prompt files, requests, JSONL, URLs, manifests",
        unit="cases",
        expected=len(rows),
        stored=len(rows) - len(failed),
        duplicated=0,
        lost=len(failed),
        ok=not failed,
        details={
            "per_category": dict(Counter(r["category"] for r in rows)),
            "failed": failed,
            "cases": rows,
        },
        seconds=time.perf_counter() - t0,
    )
