"""The last known active prompt versions, kept on local disk for when the database is down.

An agent reads which prompt versions are active from the database at the start of every run. If
the database cannot be reached at that moment, the run would have no prompts and no answer,
although the prompt files themselves sit on local disk. So every agent keeps, under
`$SOFTLOOP_HOME`, a small JSON file with what it last saw active: name, version, kind, path and
checksums. It is rewritten only when a version changes (promotions are rare), atomically, so a
reader sees either the old file or the new one.

One file serves every database and model that share a home: entries are keyed by the database
(password masked) and the model's fingerprint, so a copy is never used with another database's
history or a model its prompts were not made for.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from softloop.prompts.names import is_valid_name

log = logging.getLogger("softloop.registry")

LOCAL_COPY_NAME = "active-prompts.json"


class KnownVersion(BaseModel):
    """One active version as last seen in the database."""

    version: int
    kind: str
    path: str
    sha256: str
    manifest_sha256: str | None = None


class LocalCopy:
    """The file `path`, and within it the entry for one (database, model) pair."""

    def __init__(self, path: Path, database: str, fingerprint: str) -> None:
        self.path = path
        self.key = f"{database} | {fingerprint}"
        self._known: dict[str, KnownVersion] | None = None

    def known(self) -> dict[str, KnownVersion]:
        """name -> the version last seen active (empty if none was ever seen or readable)."""
        if self._known is None:
            self._known = self._read().get(self.key, {})
        return self._known

    def versions(self) -> dict[str, int]:
        return {name: entry.version for name, entry in self.known().items()}

    def update(self, seen: dict[str, KnownVersion]) -> None:
        """Record `seen` (merged over what was known) if it changes anything."""
        known = self.known()
        merged = {**known, **seen}
        if merged == known:
            return
        self._known = merged
        everything = self._read()
        everything[self.key] = merged
        try:
            self._write(everything)
        except OSError as err:  # a read-only home must not fail a run: the copy is a fallback
            log.warning("cannot keep the local copy of active prompts at %s (%s)", self.path, err)

    def _read(self) -> dict[str, dict[str, KnownVersion]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.warning(
                "ignoring the unreadable local copy of active prompts %s (%s)",
                self.path,
                err,
            )
            return {}
        out: dict[str, dict[str, KnownVersion]] = {}
        if not isinstance(raw, dict):
            return out
        for key, entries in raw.items():
            if not isinstance(entries, dict):
                continue
            good: dict[str, KnownVersion] = {}
            for name, entry in entries.items():
                try:
                    if is_valid_name(name):
                        good[name] = KnownVersion.model_validate(entry)
                except ValidationError:
                    continue
            out[str(key)] = good
        return out

    def _write(self, everything: dict[str, dict[str, KnownVersion]]) -> None:
        payload: dict[str, Any] = {
            key: {name: entry.model_dump() for name, entry in sorted(entries.items())}
            for key, entries in sorted(everything.items())
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(payload, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
