"""Turning a finished run's state into a stored run, without ever dropping it silently.

The store already retries transient errors (agent/store/retry.py). If it is still unreachable
after that, the answer is returned all the same, the run's state says why it was not stored,
the error is logged, and the run is appended to a spool file (`$SOFTLOOP_HOME/unsaved-runs.jsonl`)
so that it can be loaded later instead of being lost.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.settings import softloop_home
from agent.store import AttemptRecord, CritiqueRecord, RunRecord

if TYPE_CHECKING:
    from agent.graph.state import LoopState

log = logging.getLogger("softloop.loop")

SPOOL_NAME = "unsaved-runs.jsonl"


def to_record(state: LoopState) -> RunRecord:
    """The store's view of a finished run."""
    assert state.selection is not None and state.idempotency_key is not None
    attempts = [
        AttemptRecord(
            round=a.round,
            output=a.output,
            prompt_name=a.prompt.name,
            prompt_version=a.prompt.version,
            latency_s=a.model_seconds,
            oracle_correct=a.oracle_correct,
            critiques=[CritiqueRecord.model_validate(a.critique.model_dump(mode="json"))],
        )
        for a in state.attempts
    ]
    return RunRecord(
        idempotency_key=state.idempotency_key,
        task=state.task,
        input=state.input,
        final_output=state.final_output,
        status=state.status if state.status != "running" else "error",
        rounds=len(state.attempts),
        latency_s=state.latency_s,
        prompt_versions=state.selection.versions(),
        metadata=state.metadata,
        attempts=attempts,
    )


def record_run(store: Any, state: LoopState) -> tuple[str | None, str | None]:
    """Store the run; returns (run id, None) or (None, why it could not be stored)."""
    record = to_record(state)
    try:
        return str(store.record_run(record)), None
    except Exception as err:  # any failure to store must spool, never drop
        spool = _spool(record)
        message = f"run {record.idempotency_key} was not stored ({err}); saved to {spool}"
        log.error(message)
        return None, message


def _spool(record: RunRecord) -> Path:
    path = softloop_home() / SPOOL_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    line = record.model_dump_json() + "\n"
    # One write of one line in append mode: concurrent writers never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path
