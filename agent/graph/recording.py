"""Turning a finished run's state into a stored run, without ever dropping it silently.

The store already retries transient errors (agent/store/retry.py). If it is still unreachable
after that, the answer is returned all the same, the run's state says why it was not stored,
the error is logged, and the run is appended to a spool file (`$SOFTLOOP_HOME/unsaved-runs.jsonl`,
see `agent.store.spool`), replayed into the store after the next write that succeeds or by
`softloop db replay`. Everything from the finished state to the spool sits inside that net: a
run whose record cannot even be built is spooled as it is (and refused, with the reason, when
replayed), so the model's answer is never lost to a bookkeeping error.

`WriteBehind` takes the write off the request's path: a background thread writes each run while
the loop goes on with the next request.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import uuid
import weakref
from typing import TYPE_CHECKING

from softloop.agent.store import AttemptRecord, CritiqueRecord, DatabaseUnavailableError, RunRecord
from softloop.agent.store.sink import RunSink
from softloop.agent.store.spool import (
    SPOOL_NAME,
    has_pending,
    replay,
    spool_record,
    spool_unbuildable,
)
from softloop.agent.vocabulary import RunStatus

if TYPE_CHECKING:
    from softloop.agent.graph.state import LoopState

log = logging.getLogger("softloop.loop")

__all__ = ["SPOOL_NAME", "Unreachable", "WriteBehind", "record_run", "store_record", "to_record"]

# Run ids are derived from the idempotency key, so a record rebuilt for the same run (a retry, a
# resumed checkpoint) carries the same id, and a write-behind can hand the id out before writing.
_RUN_IDS = uuid.UUID("3f0b8c1e-5a36-4d0e-9a57-6f1f3c2b8d41")


def _storable(text: str) -> str:
    """Model output as both databases can hold it: NUL and lone surrogates become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def to_record(state: LoopState) -> RunRecord:
    """The store's view of a finished run."""
    assert state.selection is not None and state.idempotency_key is not None
    attempts = [
        AttemptRecord(
            round=a.round,
            output=_storable(a.output),
            prompt_name=a.prompt.name,
            prompt_version=a.prompt.version,
            latency_s=a.model_seconds,
            oracle_correct=a.oracle_correct,
            critiques=[_critique(a.critique.model_dump(mode="json"))],
        )
        for a in state.attempts
    ]
    return RunRecord(
        id=uuid.uuid5(_RUN_IDS, state.idempotency_key),
        idempotency_key=state.idempotency_key,
        task=state.task,
        input=state.input,
        final_output=None if state.final_output is None else _storable(state.final_output),
        status=state.status if state.status != RunStatus.RUNNING else RunStatus.ERROR,
        rounds=len(state.attempts),
        latency_s=state.latency_s,
        prompt_versions=state.selection.versions(),
        metadata=state.metadata,
        attempts=attempts,
    )


def _critique(fields: dict) -> CritiqueRecord:
    fields["feedback"] = _storable(fields.get("feedback") or "")
    return CritiqueRecord.model_validate(fields)


def record_run(store: RunSink, state: LoopState) -> tuple[str | None, str | None]:
    """Store the run; returns (run id, None) or (None, why it could not be stored).

    Never raises: whatever goes wrong, the run is spooled and the answer stands.
    """
    try:
        record = to_record(state)
    except Exception as err:
        reason = _one_line(err)
        try:
            where = str(spool_unbuildable(reason, state.model_dump(mode="json")))
        except Exception as spool_err:  # disk full: say so, the answer still stands
            where = f"nowhere ({_one_line(spool_err)})"
        message = f"run {state.idempotency_key} was not stored ({reason}); saved to {where}"
        log.error(message)
        return None, message
    return store_record(store, record)


def store_record(store: RunSink, record: RunRecord) -> tuple[str | None, str | None]:
    """Write one record; on failure spool it and log why. (run id, None) or (None, why).

    After a write that succeeded, runs spooled earlier are replayed into the same store.
    """
    try:
        run_id = str(store.record_run(record))
    except Exception as err:  # any failure to store must spool, never drop
        spool = spool_record(record)
        message = f"run {record.idempotency_key} was not stored ({err}); saved to {spool}"
        log.error(message)
        return None, message
    _replay_after(store)
    return run_id, None


def _replay_after(store: RunSink) -> None:
    """The database took a write: hand it what was spooled while it could not (never raises)."""
    if not hasattr(store, "add_run"):  # a queue or a stand-in, not the database itself
        return
    try:
        if has_pending():
            replay(store, wait=False)
    except Exception as err:  # the run itself is stored; the spool waits for the next one
        log.warning("replaying spooled runs failed (%s); `softloop db replay` retries", err)


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


class Unreachable:
    """A `RunSink` for a process that found the database down when it started.

    Every write fails at once with the reason, so the run is spooled without first waiting out
    the store's retries (half a minute) on a database already known to be unreachable.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def record_run(self, run: RunRecord) -> uuid.UUID:
        raise DatabaseUnavailableError(self.reason)


class WriteBehind:
    """Writes runs to a store on a background thread, so no request waits for the database.

    Pass it as the graph's `store`: `build_graph(..., store=WriteBehind(store))`. A run's write
    (one transaction, plus network round trips to a remote PostgreSQL) then no longer adds to
    the request's latency. It removes waiting, not work: the write's Python work still competes
    with the model calls' for the interpreter lock, so it pays where the write waits on a
    network. The run id is known before the write (it is derived from the run's idempotency
    key), so `run_id` is set as usual.

    What it gives up: a write that still fails after the store's retries cannot be reported in
    the run's state, because the run has already returned. It is logged at ERROR, spooled to
    `unsaved-runs.jsonl` exactly as a synchronous failure is, and counted in `failures`. Runs
    still queued when the process is killed outright are lost; `flush()` waits for the queue,
    `close()` flushes and stops the thread, and the queue is flushed at interpreter exit.
    At most `max_pending` runs wait; beyond that `record_run` blocks (back-pressure, never a
    dropped run).
    """

    def __init__(self, store: RunSink, max_pending: int = 1000):
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.store = store
        self.failures = 0  # writes that were spooled instead of stored
        self._queue: queue.Queue[RunRecord | None] = queue.Queue(maxsize=max_pending)
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="softloop-write-behind")
        self._thread.daemon = True  # the atexit hook below flushes before daemons are stopped
        self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"WriteBehind({self.store!r}, pending={self._queue.qsize()})"

    def record_run(self, record: RunRecord) -> uuid.UUID:
        """Queue `record` for writing; its id at once."""
        if self._closed:
            raise RuntimeError("this WriteBehind is closed; write to the store directly")
        self._queue.put(record)
        return record.id

    def flush(self) -> None:
        """Wait until every queued run is stored (or spooled)."""
        self._queue.join()

    def close(self) -> None:
        """Flush, then stop the writer thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _work(self) -> None:
        while True:
            record = self._queue.get()
            if record is None:
                self._queue.task_done()
                return
            try:
                _, error = store_record(self.store, record)
                if error is not None:
                    self.failures += 1
            except Exception:  # spooling itself failed (disk full): say so, keep the thread
                self.failures += 1
                log.exception("run %s was neither stored nor spooled", record.idempotency_key)
            finally:
                self._queue.task_done()


def _close_at_exit(ref: weakref.ref[WriteBehind]) -> None:
    writer = ref()
    if writer is not None:
        writer.close()
