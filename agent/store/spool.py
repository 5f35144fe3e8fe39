"""Runs the store could not take, kept in a file until it can: the spool and its replay.

When a finished run cannot be written (the database is down past the retries, or was
unreachable when the run started), the loop appends it as one JSON line to
`$SOFTLOOP_HOME/unsaved-runs.jsonl` instead of dropping it. `replay` writes those lines into
the store: `softloop db replay` by hand, and the loop after its next successful write.

Replay is idempotent: every record carries its idempotency key, so a line written twice, or
replayed twice (a replayer killed midway starts over), is stored once. It never loses a line:
the spool is first renamed aside (appenders are held off for that instant by a shared lock, so
none writes into the renamed file after it was read), lines the database could not take for
now are appended back, and lines it never will take (not a run, a run that breaks the rules
records follow, a run the database refuses) go to `refused-runs.jsonl` with the reason. A
claimed file is deleted only once every line in it is stored, put back or refused; one left by
a killed replayer is picked up by the next.

Only one replay runs at a time per home (an exclusive lock file); a loop that finds one running
leaves the work to it. The locks are POSIX file locks; where there are none (Windows), appends
and replays are not kept apart, and a replay should not run while agents are spooling.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from softloop.agent.settings import softloop_home
from softloop.agent.store.errors import DatabaseUnavailableError, StoreError
from softloop.agent.store.records import RunRecord
from softloop.agent.store.sink import RunSink

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("softloop.spool")

SPOOL_NAME = "unsaved-runs.jsonl"
REFUSED_NAME = "refused-runs.jsonl"
_APPEND_LOCK = ".unsaved-runs.lock"  # shared by appenders, exclusive while the spool is claimed
_REPLAY_LOCK = ".unsaved-runs.replay.lock"  # one replayer at a time
_CLAIMED = f"{SPOOL_NAME}.replaying-"


class ReplayReport(BaseModel):
    """What one replay did with each line it read."""

    replayed: int = 0  # stored by this replay
    already_stored: int = 0  # stored before (an earlier replay, or the write did land)
    kept: int = 0  # put back: the database could not take them now
    refused: list[str] = Field(default_factory=list)  # why each refused line was refused
    busy: bool = False  # another replay was running; this one did nothing

    @property
    def read(self) -> int:
        return self.replayed + self.already_stored + self.kept + len(self.refused)

    def summary(self) -> str:
        if self.busy:
            return "another replay is running; nothing replayed"
        if not self.read:
            return "nothing to replay"
        parts = [f"replayed {self.replayed} run{'s' * (self.replayed != 1)}"]
        if self.already_stored:
            parts.append(f"{self.already_stored} already stored")
        if self.kept:
            parts.append(f"{self.kept} kept for later (the database is unreachable)")
        if self.refused:
            parts.append(f"{len(self.refused)} refused (see {REFUSED_NAME})")
        return ", ".join(parts)


def spool_path(home: Path | None = None) -> Path:
    return (home or softloop_home()) / SPOOL_NAME


@contextmanager
def _locked(path: Path, exclusive: bool, wait: bool = True) -> Iterator[bool]:
    """Hold a file lock on `path`; yields False (holding nothing) if `wait` is off and it is
    taken."""
    if fcntl is None:
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _append_line(path: Path, line: str, home: Path) -> None:
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    with _locked(home / _APPEND_LOCK, exclusive=False):
        # One write of one line in append mode: concurrent writers never interleave in a line.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def spool_record(record: RunRecord, home: Path | None = None) -> Path:
    """Append `record` to the spool; its path."""
    home = home or softloop_home()
    path = spool_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    _append_line(path, record.model_dump_json(), home)
    return path


def spool_unbuildable(reason: str, state: dict[str, Any], home: Path | None = None) -> Path:
    """Append a finished run that could not even become a record, so it is kept, not lost.

    Replay refuses it (with `reason`), which moves it to the refused file for a person to read.
    """
    home = home or softloop_home()
    path = spool_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"unbuildable": reason, "state": state}, default=str, ensure_ascii=False)
    _append_line(path, line, home)
    return path


def has_pending(home: Path | None = None) -> bool:
    """Whether there is anything to replay (a spool, or a file a killed replayer left)."""
    home = home or softloop_home()
    try:
        with os.scandir(home) as entries:
            return any(e.name == SPOOL_NAME or e.name.startswith(_CLAIMED) for e in entries)
    except FileNotFoundError:
        return False


def _claim(home: Path) -> list[Path]:
    """Rename the spool aside (no appender mid-line meanwhile); every claimed file, oldest first."""
    spool = spool_path(home)
    with _locked(home / _APPEND_LOCK, exclusive=True):
        if spool.exists():
            os.replace(spool, home / f"{_CLAIMED}{os.getpid()}-{secrets.token_hex(4)}")
    claimed = [p for p in home.iterdir() if p.name.startswith(_CLAIMED)]
    return sorted(claimed, key=lambda p: p.stat().st_mtime)


def replay(store: RunSink | Any, home: Path | None = None, *, wait: bool = True) -> ReplayReport:
    """Write every spooled run into `store`; see the module docstring. Never raises for a line.

    `store` is a `Store` (or anything with `add_run`, else `record_run`). `wait=False` returns
    at once (`busy`) if another replay holds the lock.
    """
    home = home or softloop_home()
    report = ReplayReport()
    if not has_pending(home):
        return report
    with _locked(home / _REPLAY_LOCK, exclusive=True, wait=wait) as held:
        if not held:
            report.busy = True
            return report
        for claimed in _claim(home):
            _replay_file(store, claimed, home, report)
    if report.read:
        log.info("spool replay: %s", report.summary())
    return report


def _replay_file(store: Any, claimed: Path, home: Path, report: ReplayReport) -> None:
    with claimed.open(encoding="utf-8", errors="replace") as lines:
        unreachable: StoreError | None = None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if unreachable is not None:  # the database went away: keep the rest for later
                _append_line(spool_path(home), line, home)
                report.kept += 1
                continue
            try:
                record = _parse(line)
                stored = _write(store, record)
            except _Refused as err:
                _refuse(home, line, f"line {number}: {err}", report)
            except DatabaseUnavailableError as err:
                unreachable = err
                _append_line(spool_path(home), line, home)
                report.kept += 1
            except StoreError as err:
                _refuse(home, line, f"run {_key(line)}: {err}", report)
            else:
                if stored:
                    report.replayed += 1
                else:
                    report.already_stored += 1
    claimed.unlink()


class _Refused(Exception):
    pass


def _parse(line: str) -> RunRecord:
    try:
        payload = json.loads(line)
    except (ValueError, RecursionError):
        raise _Refused("not a JSON line") from None
    if isinstance(payload, dict) and "unbuildable" in payload:
        raise _Refused(f"the run could not be made into a record: {payload['unbuildable']}")
    try:
        return RunRecord.model_validate(payload)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _Refused(f"not a valid run ({where}: {first['msg']})") from None


def _write(store: Any, record: RunRecord) -> bool:
    if hasattr(store, "add_run"):
        return bool(store.add_run(record)[1])
    store.record_run(record)
    return True


def _key(line: str) -> str:
    try:
        return str(json.loads(line).get("idempotency_key", "?"))
    except (ValueError, AttributeError, RecursionError):
        return "?"


def _refuse(home: Path, line: str, reason: str, report: ReplayReport) -> None:
    report.refused.append(reason)
    entry = json.dumps({"reason": reason, "line": line.rstrip("\n")}, ensure_ascii=False)
    _append_line(home / REFUSED_NAME, entry, home)
    log.warning("spooled run refused: %s", reason)

