"""`softloop prompts add | list | show | promote | rollback` round trip, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from softloop.agent.registry import RegistryError
from softloop.agent.store import PromptVersionNotFoundError, Store
from softloop.prompts import PromptMismatchError, SoftPrompt
from softloop.prompts.prompt_dir import WEIGHTS
from tests.agent.cli.driver import TASK, invoke
from tests.prompts.models import make_lm


def statuses(store: Store) -> dict[str, str]:
    return {r.ref: r.status for r in store.list_prompt_versions()}


def test_prompts_round_trip(store: Store, model_dir, prompt_dirs, home) -> None:
    model = ["--model", str(model_dir)]
    assert invoke(store, "prompts", "list").stdout.startswith("No prompt versions yet.")

    result = invoke(store, "prompts", "add", str(prompt_dirs[TASK]), *model)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"registered t@1 (task, candidate) from {prompt_dirs[TASK]}\n"
    assert (
        invoke(store, "prompts", "add", str(prompt_dirs[TASK]), "--active", *model).exit_code == 0
    )
    result = invoke(store, "prompts", "add", str(prompt_dirs["critique"]), "--active", *model)
    assert result.stdout.startswith("registered critique@1 (critique, active)")
    renamed = ["--name", "critique", "--kind", "critique"]
    result = invoke(store, "prompts", "add", str(prompt_dirs[TASK]), *renamed, *model)
    assert result.stdout.startswith("registered critique@2 (critique, candidate)")
    assert statuses(store) == {
        "critique@1": "active",
        "critique@2": "candidate",
        "t@1": "candidate",
        "t@2": "active",
    }
    # The registry keeps its own copy: the file lives under $SOFTLOOP_HOME/prompts.
    assert all(str(home / "prompts") in r.path for r in store.list_prompt_versions())

    listed = invoke(store, "prompts", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "VERSION",
        "KIND",
        "STATUS",
        "PARENT",
        "METRICS",
        "CREATED",
        "PROMOTED",
    ]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["critique", "1", "critique", "active"],
        ["critique", "2", "critique", "candidate"],
        ["t", "1", "task", "candidate"],
        ["t", "2", "task", "active"],
    ]
    rows = json.loads(invoke(store, "prompts", "list", "--json").stdout)
    assert [(r["name"], r["version"], r["status"]) for r in rows][-1] == ("t", 2, "active")

    result = invoke(store, "prompts", "promote", TASK, "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "t: v1 is active (was v2)\n"
    assert statuses(store)["t@2"] == "retired"

    result = invoke(store, "prompts", "rollback", TASK)
    assert result.exit_code == 0, result.output
    assert result.stdout == "t: v2 is active again (v1 rejected)\n"
    assert (statuses(store)["t@1"], statuses(store)["t@2"]) == ("rejected", "active")

    shown = invoke(store, "prompts", "show", TASK)
    assert shown.exit_code == 0, shown.output
    assert "v1 rejected:" in shown.stdout and "v2 active:" in shown.stdout
    data = json.loads(invoke(store, "prompts", "show", TASK, "--json").stdout)
    assert [v["status"] for v in data["versions"]] == ["rejected", "active"]
    assert data["jobs"] == []


def test_prompts_user_errors(store: Store, model_dir, prompt_dirs, home, tmp_path) -> None:
    model = ["--model", str(model_dir)]
    invoke(store, "prompts", "add", str(prompt_dirs[TASK]), "--active", *model)
    invoke(store, "prompts", "add", str(prompt_dirs[TASK]), *model)

    missing = invoke(store, "prompts", "promote", TASK, "9").exception
    assert isinstance(missing, PromptVersionNotFoundError)
    assert "no prompt called 'nope'" in str(invoke(store, "prompts", "show", "nope").exception)
    assert "no earlier promoted version" in str(
        invoke(store, "prompts", "rollback", TASK).exception
    )

    # An altered file is never promoted.
    weights = Path(store.get_prompt_version(TASK, 2).path) / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    result = invoke(store, "prompts", "promote", TASK, "2")
    assert isinstance(result.exception, RegistryError) and "sha256" in str(result.exception)
    assert store.active_version(TASK).version == 1

    # A prompt trained for another model is refused.
    other = SoftPrompt.from_init(make_lm("llama", seed=0), 4, init="vocab", name="o")
    result = invoke(store, "prompts", "add", str(other.save(tmp_path / "other")), *model)
    assert isinstance(result.exception, PromptMismatchError)
