"""Registering prompt versions (issue 16, defects 1, 2 and 12), on SQLite and PostgreSQL.

Many processes starting together on a fresh database all register the shipped prompts: each name
must get exactly one version, no process may die, and no directory may be left that no row
points to. Names are confined to the registry's root; both files of a version are checksummed.
"""

from __future__ import annotations

import inspect
import json
import logging
import multiprocessing
import traceback
from pathlib import Path

import pytest

from softloop.agent.registry import PromptRegistry, RegistryError
from softloop.agent.store import Store
from softloop.prompts import FrozenLM, SoftloopError, SoftPrompt
from tests.prompts.models import make_lm

PROCESSES = 8
NAMES = ("t", "critique", "revise")


@pytest.fixture(scope="module")
def lm() -> FrozenLM:
    return make_lm("llama", seed=21)


@pytest.fixture(scope="module")
def shipped(lm: FrozenLM, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Shipped prompts, as a world's `default_prompts` are: name -> directory."""
    root = tmp_path_factory.mktemp("shipped")
    kinds = {"t": "task", "critique": "critique", "revise": "revise"}
    return {
        name: SoftPrompt.from_init(lm, 3, "vocab", name=name, kind=kind, seed=i).save(root / name)
        for i, (name, kind) in enumerate(kinds.items())
    }


def _registry(store: Store, lm: FrozenLM, root: Path, home: Path) -> PromptRegistry:
    """A registry whose local copy of active versions stays in this test's folder."""
    if "local_copy" in inspect.signature(PromptRegistry).parameters:
        return PromptRegistry(store, lm, root, local_copy=home / "copy.json")
    return PromptRegistry(store, lm, root)  # softloop before issue 16


def _every_directory_has_a_row(store: Store, root: Path) -> None:
    rows = {Path(r.path).resolve() for r in store.list_prompt_versions()}
    on_disk = {p.resolve() for name_dir in root.iterdir() for p in name_dir.iterdir()}
    assert on_disk == rows, "directories without rows, or rows without directories"


def _start(url: str, root: str, shipped: dict[str, Path], lm: FrozenLM, barrier, errors) -> None:
    store = Store(url, auto_upgrade=False)
    try:
        barrier.wait()
        _registry(store, lm, Path(root), Path(root).parent).bootstrap(shipped)
    except BaseException:
        errors.put(traceback.format_exc())
        raise
    finally:
        store.close()


def test_concurrent_first_start_registers_each_prompt_once(
    store: Store, lm: FrozenLM, shipped: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "prompts"
    # fork: a spawned child would re-import torch, seconds each on two cores
    ctx = multiprocessing.get_context("fork")
    barrier, errors = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_start, args=(store.url, str(root), shipped, lm, barrier, errors))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    died = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert [p.exitcode for p in procs] == [0] * PROCESSES, died
    rows = store.list_prompt_versions()
    assert sorted((r.name, r.version, r.status) for r in rows) == sorted(
        (name, 1, "active") for name in NAMES
    )
    _every_directory_has_a_row(store, root)


def test_concurrent_registrations_get_distinct_versions(
    store: Store, lm: FrozenLM, tmp_path: Path
) -> None:
    import threading

    root = tmp_path / "prompts"
    n = 6
    barrier = threading.Barrier(n)
    versions: list[int] = []
    failures: list[BaseException] = []

    def register(k: int) -> None:
        registry = _registry(store, lm, root, tmp_path)
        prompt = SoftPrompt.from_init(lm, 2, "vocab", name="t", seed=k)
        barrier.wait()
        try:
            versions.append(registry.register(prompt, status="active").version)
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=register, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(versions) == list(range(1, n + 1))
    assert [r.status for r in store.list_prompt_versions("t")].count("active") == 1
    _every_directory_has_a_row(store, root)


def test_a_failed_registration_leaves_no_directory(
    store: Store, lm: FrozenLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "prompts"
    registry = _registry(store, lm, root, tmp_path)
    registry.register(SoftPrompt.from_init(lm, 2, "vocab", name="t"), status="active")
    import softloop.agent.store.registry as rows

    def refuse(*args: object, **kwargs: object) -> None:
        raise SoftloopError("the database said no")

    monkeypatch.setattr(rows, "promote", refuse)  # fails inside the registering transaction
    with pytest.raises(SoftloopError, match="said no"):
        registry.register(SoftPrompt.from_init(lm, 2, "vocab", name="t"), status="active")
    assert [r.version for r in store.list_prompt_versions("t")] == [1]
    _every_directory_has_a_row(store, root)


def test_leftovers_of_a_crashed_registration_are_swept(
    store: Store, lm: FrozenLM, tmp_path: Path
) -> None:
    root = tmp_path / "prompts"
    registry = _registry(store, lm, root, tmp_path)
    row = registry.register(SoftPrompt.from_init(lm, 2, "vocab", name="t"), status="active")
    final = Path(row.path)
    # A process killed after its commit, before the rename: the row points at the final name.
    final.rename(final.with_name(f".{final.name}.pending"))
    # A process killed before its commit: files under a temporary name, and no row.
    dead = root / "t" / ".v2-0123456789abcdef.pending"
    SoftPrompt.from_init(lm, 2, "vocab", name="t").save(dead)
    removed = registry.sweep(older_than_s=0)
    assert removed == [dead]
    assert final.is_dir()
    _every_directory_has_a_row(store, root)


def test_a_reader_completes_a_registration_whose_process_died_after_commit(
    store: Store, lm: FrozenLM, tmp_path: Path
) -> None:
    root = tmp_path / "prompts"
    registry = _registry(store, lm, root, tmp_path)
    row = registry.register(SoftPrompt.from_init(lm, 2, "vocab", name="t"), status="active")
    final = Path(row.path)
    final.rename(final.with_name(f".{final.name}.pending"))
    fresh = _registry(store, lm, root, tmp_path)
    assert fresh.active_prompt("t") is not None and final.is_dir()


# --- 2: names confined to the registry's root ------------------------------------------------


@pytest.mark.parametrize("name", ["../../x", "a/b", "ABSOLUTE", ".."])
def test_a_name_cannot_lead_outside_the_registry(
    store: Store, lm: FrozenLM, tmp_path: Path, name: str
) -> None:
    if name == "ABSOLUTE":  # an absolute name replaces the root it is joined to
        name = str(tmp_path / "a" / "elsewhere")
    root = tmp_path / "a" / "home" / "prompts"
    registry = _registry(store, lm, root, tmp_path)
    prompt = SoftPrompt.from_init(lm, 2, "vocab", name="ok")
    prompt.manifest = prompt.manifest.model_copy(update={"name": name})  # skips validation
    with pytest.raises(SoftloopError, match=r"not allowed|characters long"):
        registry.register(prompt, status="active")
    assert store.list_prompt_versions() == []
    assert [p for p in (tmp_path / "a").rglob("*") if p.is_file()] == []


def test_the_store_refuses_bad_names_too(store: Store) -> None:
    with pytest.raises(SoftloopError, match="not allowed"):
        store.add_prompt_version("../x", "task", "/p", "0" * 64)
    with pytest.raises(SoftloopError, match="not allowed"):
        store.try_acquire_lease("a/b", "me", 60)


# --- 12: both files checksummed; an empty fingerprint said ---------------------------------


def test_an_edited_manifest_is_noticed(store: Store, lm: FrozenLM, tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    registry = _registry(store, lm, root, tmp_path)
    critique = SoftPrompt.from_init(lm, 2, "vocab", name="critique", kind="critique")
    row = registry.register(critique, status="active", metrics={"critic_balanced_accuracy": 0.5})
    manifest_path = Path(row.path) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["metrics"]["critic_balanced_accuracy"] = 0.99  # would let it join the critic
    manifest_path.write_text(json.dumps(manifest))
    fresh = _registry(store, lm, root, tmp_path)
    with pytest.raises(RegistryError, match=r"manifest .* does not match its recorded sha256"):
        fresh.active_prompt("critique")


def test_registering_a_prompt_without_a_fingerprint_warns(
    store: Store, lm: FrozenLM, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _registry(store, lm, tmp_path / "p", tmp_path)
    prompt = SoftPrompt.from_init(lm, 2, "vocab", name="t")
    prompt.manifest = prompt.manifest.model_copy(update={"base_fingerprint": ""})
    with caplog.at_level(logging.WARNING, logger="softloop.prompts"):
        registry.register(prompt, status="active")
    assert "has no base-model fingerprint" in caplog.text
