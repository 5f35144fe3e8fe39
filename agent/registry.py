"""The prompt registry: versioned prompt files on disk, their lifecycle rows in the store.

A version is a directory `<root>/<name>/v<version>-<token>/` (written by `SoftPrompt.save`) plus
a `prompt_versions` row that points at it with the checksums of its weights and its manifest.
The row's status says which version is active; the database keeps at most one active per name.

Registering is race-free and leaves nothing behind. Inside one transaction, under the name's
lock, the next version number is taken and the files are written under a temporary name
(`.v3-<token>.pending`) with that number in their manifest; the row is inserted (insert or
ignore); after the commit the directory is renamed into place. So no directory appears under its
final name without a committed row, and a row whose rename never happened (the process died
right after the commit) finds its files under the temporary name: the first reader or the next
sweep completes the rename. Files of registrations that never committed are swept (`sweep`,
run at every start-up by `bootstrap`).

Every path the registry writes is under its root, and every name follows the one naming rule
(`prompts.names`), so a name from a manifest or the command line cannot reach outside it.

It is also a `PromptSource` for the loop: `select(task)` reads the active versions at the start
of each run, so a promotion reaches every agent at its next run. If the database cannot be
reached then, the run goes on with the versions last seen active (kept under `$SOFTLOOP_HOME`,
see `agent.local_copy`) or, failing those, the world's shipped defaults (recorded as version 0),
and `offline` says why.

Naming convention: a task's prompt is named after the task; the critique and revise prompts are
`critique` and `revise` unless configured otherwise, and a task may have a critique prompt of
its own (`critique_names`; `softloop task add` names it `<task>-critique`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from softloop.agent.graph.prompt_source import PromptRef, PromptSelection
from softloop.agent.local_copy import LOCAL_COPY_NAME, KnownVersion, LocalCopy
from softloop.agent.settings import softloop_home
from softloop.agent.store import DatabaseUnavailableError, PromptVersion, Store
from softloop.agent.store.engine import safe_url
from softloop.agent.store.registry import StagedFiles
from softloop.prompts import FrozenLM, SoftloopError, SoftPrompt
from softloop.prompts.files import warn_unfingerprinted
from softloop.prompts.names import check_name, is_valid_name
from softloop.prompts.prompt_dir import MANIFEST, WEIGHTS, read_manifest

log = logging.getLogger("softloop.registry")

SHIPPED = 0  # the version number a run records for a world's shipped default (database down)
SWEEP_AFTER_S = 3600.0  # a leftover younger than this may belong to another database's commit
_PENDING = ".pending"
# Leftovers of registrations that never completed: the pending directory, and the temporary
# siblings `save_prompt` makes next to it.
_LEFTOVER = re.compile(r"\.\.?(?P<final>v\d+-[0-9a-f]+)\.pending(?:\.(?:tmp|old)-.*)?")


class RegistryError(SoftloopError):
    """A prompt version is missing, altered on disk, or not registered."""


def file_sha256(directory: Path) -> str:
    """sha256 of the weights file."""
    return hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest()


def manifest_sha256(directory: Path) -> str:
    """sha256 of the manifest file (template, fingerprint, recorded metrics)."""
    return hashlib.sha256((directory / MANIFEST).read_bytes()).hexdigest()


def _pending(final: Path) -> Path:
    return final.with_name(f".{final.name}{_PENDING}")


def _complete(final: Path) -> None:
    """Rename a committed version's files into place if its process died before doing so."""
    if final.exists():
        return
    pending = _pending(final)
    try:
        os.rename(pending, final)
    except FileNotFoundError:
        return  # nothing pending, or another process completed it first
    except OSError:
        if not final.exists():
            raise


_unvouched: set[str] = set()


def verified_path(row: PromptVersion, consequence: str) -> Path:
    """The version's directory, if its files hold the bytes its row recorded.

    Both files are checked: the weights, and the manifest (its template, fingerprint and metrics
    steer the loop as much as the weights do). Rows registered before manifests were checksummed
    are trusted for their weights only, with a warning once per process.
    `consequence` ends each error message: what the caller will not do, or what to do instead.
    """
    path = Path(row.path)
    _complete(path)
    if not (path / WEIGHTS).is_file() or not (path / MANIFEST).is_file():
        raise RegistryError(f"prompt {row.ref} is missing its files at {path}; {consequence}")
    if file_sha256(path) != row.sha256:
        raise RegistryError(
            f"prompt {row.ref} at {path} does not match its recorded sha256; {consequence}"
        )
    if row.manifest_sha256 is None:
        if row.ref not in _unvouched:
            _unvouched.add(row.ref)
            log.warning(
                "prompt %s was registered before manifests were checksummed; its manifest at %s "
                "cannot be checked",
                row.ref,
                path,
            )
    elif manifest_sha256(path) != row.manifest_sha256:
        raise RegistryError(
            f"prompt {row.ref}'s manifest at {path} does not match its recorded sha256 (edited "
            f"since it was registered); {consequence}"
        )
    return path


class PromptRegistry:
    """Prompt versions for one base model, shared by agents and refiners through the store.

    defaults: the world's shipped prompts (name -> directory), the last resort when the database
    cannot be reached and no version was ever seen active. local_copy: the file keeping the last
    known active versions (default: beside the root, `$SOFTLOOP_HOME/active-prompts.json` for
    the default root `$SOFTLOOP_HOME/prompts`). critique_names: task -> the critique prompt that
    judges that task, where it is not `critique_name`.
    """

    def __init__(
        self,
        store: Store,
        lm: FrozenLM,
        root: str | Path | None = None,
        *,
        critique_name: str | None = "critique",
        revise_name: str | None = "revise",
        defaults: Mapping[str, Path] | None = None,
        local_copy: Path | None = None,
        critique_names: Mapping[str, str] | None = None,
    ):
        self.store, self.lm = store, lm
        self.root = Path(root) if root is not None else softloop_home() / "prompts"
        self.critique_name, self.revise_name = critique_name, revise_name
        self.critique_names = {
            t: check_name(n, "prompt name") for t, n in (critique_names or {}).items()
        }
        self.defaults: dict[str, Path] = dict(defaults or {})
        self.local = LocalCopy(
            local_copy if local_copy is not None else self.root.parent / LOCAL_COPY_NAME,
            database=safe_url(store.url),
            fingerprint=lm.fingerprint,
        )
        # Why the last look at the database failed (None: it answered); runs go on regardless.
        self.offline: str | None = None
        self._cache: dict[PromptRef, SoftPrompt] = {}
        self._lock = threading.Lock()

    # --- PromptSource --------------------------------------------------------------------

    def critique_for(self, task: str) -> str | None:
        """The name of the critique prompt that judges `task`'s answers."""
        return self.critique_names.get(task, self.critique_name)

    def _names(self, task: str) -> list[str]:
        return [n for n in (task, self.critique_for(task), self.revise_name) if n]

    def select(self, task: str) -> PromptSelection:
        """The active versions this run will use."""
        check_name(task, "task name")
        names = self._names(task)
        try:
            active = self.store.active_version_numbers(names)  # one query per run, not three
        except DatabaseUnavailableError as err:
            self.offline = str(err)
            active = self._offline_versions(names)
        else:
            self.offline = None
            self._remember(active)
        if task not in active:
            if self.offline is not None:
                raise RegistryError(
                    f"{self.offline.rstrip('.')}, and no prompt for task {task!r} was ever seen "
                    "active here; try again when the database is back"
                )
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
            task=task_ref, critique=ref(self.critique_for(task)), revise=ref(self.revise_name)
        )

    def load(self, ref: PromptRef) -> SoftPrompt:
        """The prompt of a registered version, loaded once and kept (versions never change)."""
        with self._lock:
            if ref in self._cache:
                return self._cache[ref]
        if ref.version == SHIPPED and ref.name in self.defaults:
            prompt = SoftPrompt.load(self.defaults[ref.name], lm=self.lm)
        else:
            try:
                row = self.store.get_prompt_version(ref.name, ref.version)
            except DatabaseUnavailableError as err:
                self.offline = str(err)
                row = self._known_row(ref, err)
            prompt = self._load_row(row)
        # Served, never trained in place (the refiner trains a copy): no autograd graph is
        # built around it, and its key/value prefix can be cached.
        prompt.weight.requires_grad_(False)
        with self._lock:
            self._cache[ref] = prompt
        return prompt

    def _load_row(self, row: PromptVersion) -> SoftPrompt:
        path = verified_path(row, "restore the file or roll back to another version")
        return SoftPrompt.load(path, lm=self.lm)

    # --- when the database is down -------------------------------------------------------

    def _remember(self, active: dict[str, int]) -> None:
        """Keep the local copy in step with what the database says is active."""
        changed = [n for n, v in active.items() if self.local.versions().get(n) != v]
        if not changed:
            return
        try:
            rows = self.store.active_versions(changed)
        except SoftloopError as err:  # only a fallback: never fail a run for it
            log.info("local copy of active prompts not updated (%s)", err)
            return
        self.local.update(
            {
                name: KnownVersion(
                    version=row.version,
                    kind=row.kind,
                    path=row.path,
                    sha256=row.sha256,
                    manifest_sha256=row.manifest_sha256,
                )
                for name, row in rows.items()
            }
        )

    def _offline_versions(self, names: list[str]) -> dict[str, int]:
        """The versions to use while the database is down: last known active, else shipped."""
        known = self.local.versions()
        out = {}
        for name in names:
            if name in known:
                out[name] = known[name]
            elif name in self.defaults:
                out[name] = SHIPPED
        return out

    def _known_row(self, ref: PromptRef, err: DatabaseUnavailableError) -> PromptVersion:
        entry = self.local.known().get(ref.name)
        if entry is None or entry.version != ref.version:
            raise err
        return PromptVersion(
            name=ref.name,
            version=entry.version,
            kind=entry.kind,
            path=entry.path,
            sha256=entry.sha256,
            manifest_sha256=entry.manifest_sha256,
        )

    def offline_kinds(self) -> dict[str, str]:
        """name -> kind of every prompt a run could use with the database down."""
        kinds = {name: entry.kind for name, entry in self.local.known().items()}
        for name, directory in self.defaults.items():
            if name not in kinds:
                try:
                    kinds[name] = str(read_manifest(directory).kind)
                except SoftloopError:
                    continue
        return kinds

    # --- writing -------------------------------------------------------------------------

    def _version_dir(self, name: str, version: int, token: str) -> Path:
        """`<root>/<name>/v<version>-<token>`, refused unless it lies under the root."""
        check_name(name, "prompt name")
        root = self.root.resolve()
        directory = (root / name / f"v{version}-{token}").resolve()
        if not directory.is_relative_to(root) or directory.parent.parent != root:
            raise RegistryError(f"prompt name {name!r} leads outside the registry at {root}")
        return directory

    def register(
        self,
        prompt: SoftPrompt,
        *,
        status: str = "candidate",
        parent: int | None = None,
        n_examples: int | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> PromptVersion:
        """Register `prompt` as the next version of its name (see the module docstring)."""
        row = self._register(
            prompt, status=status, parent=parent, n_examples=n_examples, metrics=metrics
        )
        assert row is not None  # only a first registration (`only_if_new`) steps aside
        return row

    def _register(
        self,
        prompt: SoftPrompt,
        *,
        status: str = "candidate",
        parent: int | None = None,
        n_examples: int | None = None,
        metrics: dict[str, Any] | None = None,
        only_if_new: bool = False,
    ) -> PromptVersion | None:
        """`register`; with `only_if_new`, None when the name already had a version."""
        name = check_name(prompt.manifest.name, "prompt name")
        if not prompt.manifest.base_fingerprint:
            warn_unfingerprinted(prompt.manifest, self.lm)
        token = secrets.token_hex(8)
        staged: dict[Path, Any] = {}  # pending directory -> the manifest written there

        def stage(version: int) -> StagedFiles:
            for leftover in staged:  # a retried transaction: the earlier try's files go
                shutil.rmtree(leftover, ignore_errors=True)
            staged.clear()
            final = self._version_dir(name, version, token)
            pending = _pending(final)
            manifest = prompt.manifest.model_copy(
                update={"version": version, "parent": parent, "metrics": dict(metrics or {})}
            )
            staged[pending] = manifest
            SoftPrompt(prompt.weight.detach(), manifest).save(pending)
            return StagedFiles(str(final), file_sha256(pending), manifest_sha256(pending))

        try:
            row = self.store.register_prompt(
                name,
                prompt.manifest.kind,
                stage,
                token=token,
                parent=parent,
                n_examples=n_examples,
                metrics=metrics,
                status=status,
                only_if_new=only_if_new,
            )
        except DatabaseUnavailableError:
            raise  # the commit may have happened: its files stay for the reader or the sweep
        except BaseException:
            for leftover in staged:
                shutil.rmtree(leftover, ignore_errors=True)
            raise
        kept = _pending(Path(row.path)) if row is not None else None
        for leftover in staged:
            if leftover != kept:
                shutil.rmtree(leftover, ignore_errors=True)
        if row is None:
            return None
        _complete(Path(row.path))
        if kept in staged:
            prompt.manifest = staged[kept]
        return row

    def bootstrap(self, defaults: Mapping[str, Path]) -> list[PromptVersion]:
        """Register shipped prompts as the first active versions of names that have none.

        Idempotent and safe to run from many processes at once (each name is registered by
        exactly one of them), so it runs at every start-up of an agent or refiner; it also
        sweeps what crashed registrations left behind.
        """
        self.defaults.update(defaults)
        added = []
        for name, directory in defaults.items():
            check_name(name, "prompt name")
            if self.store.list_prompt_versions(name):
                continue  # the common case, answered by a read
            prompt = SoftPrompt.load(directory, lm=self.lm)
            if prompt.manifest.name != name:
                prompt.manifest = prompt.manifest.model_copy(update={"name": name})
            row = self._register(
                prompt, status="active", metrics=prompt.manifest.metrics, only_if_new=True
            )
            if row is not None:
                added.append(row)
        self.sweep()
        return added

    def sweep(self, older_than_s: float = SWEEP_AFTER_S) -> list[Path]:
        """Remove files of registrations that never committed; finish ones that did.

        Each name is swept under its registration lock, so no registration of it is in
        progress meanwhile (in this database). `older_than_s` spares leftovers younger than that,
        which may be another database's registration in flight when two databases share one
        root; the paths removed are returned.
        """
        if not self.root.is_dir():
            return []
        removed: list[Path] = []
        for name_dir in sorted(self.root.iterdir()):
            if not name_dir.is_dir() or not is_valid_name(name_dir.name):
                continue
            if not any(_LEFTOVER.fullmatch(p.name) for p in name_dir.iterdir()):
                continue

            def sweep_name(paths: list[str], name_dir: Path = name_dir) -> list[Path]:
                return _sweep_dir(name_dir, {Path(p).resolve() for p in paths}, older_than_s)

            removed += self.store.with_prompt_paths(name_dir.name, sweep_name)
        return removed

    def active_prompt(self, name: str) -> tuple[PromptVersion, SoftPrompt] | None:
        row = self.store.active_version(name)
        if row is None:
            return None
        return row, self.load(PromptRef(name=row.name, version=row.version))


def _sweep_dir(name_dir: Path, referenced: set[Path], older_than_s: float) -> list[Path]:
    removed = []
    now = time.time()
    for entry in name_dir.iterdir():
        match = _LEFTOVER.fullmatch(entry.name)
        if match is None:
            continue
        final = (name_dir / match["final"]).resolve()
        if entry.name == _pending(final).name and final in referenced:
            _complete(final)  # committed; its process died before the rename
            continue
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= older_than_s:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
