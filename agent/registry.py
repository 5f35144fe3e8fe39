"""The prompt registry: versioned prompt files on disk, their lifecycle rows in the store.

A version is a directory `<root>/<name>/v<version>-<token>/` (written atomically by
`SoftPrompt.save`) plus a `prompt_versions` row that points at it with the file's sha256. The
file is complete before the row is committed, so a crash between the two leaves at worst an
unreferenced directory, never a row pointing at a half-written file. The row's status says which
version is active; the database keeps at most one active per name.

It is also a `PromptSource` for the loop: `select(task)` reads the active versions at the start
of each run, so a promotion reaches every agent at its next run.

Naming convention: a task's prompt is named after the task; the critique and revise prompts are
`critique` and `revise` unless configured otherwise.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from pathlib import Path
from typing import Any

from softloop.agent.graph.prompt_source import PromptRef, PromptSelection
from softloop.agent.settings import softloop_home
from softloop.agent.store import PromptVersion, Store
from softloop.prompts import FrozenLM, SoftloopError, SoftPrompt
from softloop.prompts.files import WEIGHTS


class RegistryError(SoftloopError):
    """A prompt version is missing, altered on disk, or not registered."""


def file_sha256(directory: Path) -> str:
    return hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest()


def verified_path(row: PromptVersion, consequence: str) -> Path:
    """The version's directory, if its file is there with the bytes its row recorded.

    `consequence` ends each error message: what the caller will not do, or what to do instead.
    """
    path = Path(row.path)
    if not (path / WEIGHTS).is_file():
        raise RegistryError(f"prompt {row.ref} is missing its file at {path}; {consequence}")
    if file_sha256(path) != row.sha256:
        raise RegistryError(
            f"prompt {row.ref} at {path} does not match its recorded sha256; {consequence}"
        )
    return path


class PromptRegistry:
    """Prompt versions for one base model, shared by agents and refiners through the store."""

    def __init__(
        self,
        store: Store,
        lm: FrozenLM,
        root: str | Path | None = None,
        *,
        critique_name: str | None = "critique",
        revise_name: str | None = "revise",
    ):
        self.store, self.lm = store, lm
        self.root = Path(root) if root is not None else softloop_home() / "prompts"
        self.critique_name, self.revise_name = critique_name, revise_name
        self._cache: dict[PromptRef, SoftPrompt] = {}
        self._lock = threading.Lock()

    # --- PromptSource --------------------------------------------------------------------

    def select(self, task: str) -> PromptSelection:
        """The active versions this run will use."""
        names = [n for n in (task, self.critique_name, self.revise_name) if n]
        active = self.store.active_version_numbers(names)  # one query per run, not three
        if task not in active:
            raise RegistryError(
                f"no active prompt for task {task!r}; train one with `softloop train` and "
                "register it with `softloop prompts add DIR --active`"
            )

        def ref(name: str | None) -> PromptRef | None:
            version = active.get(name) if name else None
            return PromptRef(name=name, version=version) if name and version is not None else None

        task_ref = ref(task)
        assert task_ref is not None  # checked above: the task has an active version
        return PromptSelection(
            task=task_ref, critique=ref(self.critique_name), revise=ref(self.revise_name)
        )

    def load(self, ref: PromptRef) -> SoftPrompt:
        """The prompt of a registered version, loaded once and kept (versions never change)."""
        with self._lock:
            if ref in self._cache:
                return self._cache[ref]
        row = self.store.get_prompt_version(ref.name, ref.version)
        prompt = self._load_row(row)
        with self._lock:
            self._cache[ref] = prompt
        return prompt

    def _load_row(self, row: PromptVersion) -> SoftPrompt:
        path = verified_path(row, "restore the file or roll back to another version")
        return SoftPrompt.load(path, lm=self.lm)

    # --- writing -------------------------------------------------------------------------

    def register(
        self,
        prompt: SoftPrompt,
        *,
        status: str = "candidate",
        parent: int | None = None,
        n_examples: int | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> PromptVersion:
        """Save `prompt` as the next version of its name; the file lands before the row."""
        name = prompt.manifest.name
        versions = [v.version for v in self.store.list_prompt_versions(name)]
        version = max(versions, default=0) + 1
        prompt.manifest = prompt.manifest.model_copy(
            update={"version": version, "parent": parent, "metrics": dict(metrics or {})}
        )
        directory = self.root / name / f"v{version}-{secrets.token_hex(4)}"
        prompt.save(directory)
        row = self.store.add_prompt_version(
            name,
            prompt.manifest.kind,
            directory,
            file_sha256(directory),
            version=version,
            parent=parent,
            n_examples=n_examples,
            metrics=metrics,
            status="candidate",
        )
        if status == "active":
            row = self.store.promote(name, version)
        elif status != "candidate":
            row = self.store.set_status(name, version, status)
        return row

    def bootstrap(self, defaults: dict[str, Path]) -> list[PromptVersion]:
        """Register shipped prompts as the first active versions of names that have none.

        Idempotent: names that already have versions are left alone, so this runs on every
        start-up of an agent or refiner.
        """
        added = []
        for name, directory in defaults.items():
            if self.store.list_prompt_versions(name):
                continue
            prompt = SoftPrompt.load(directory, lm=self.lm)
            if prompt.manifest.name != name:
                prompt.manifest = prompt.manifest.model_copy(update={"name": name})
            added.append(self.register(prompt, status="active", metrics=prompt.manifest.metrics))
        return added

    def active_prompt(self, name: str) -> tuple[PromptVersion, SoftPrompt] | None:
        row = self.store.active_version(name)
        if row is None:
            return None
        return row, self.load(PromptRef(name=row.name, version=row.version))
