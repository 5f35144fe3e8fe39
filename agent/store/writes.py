"""Writing one run: the run, its attempts, their critiques, its prompt rows and rollup counts.

Core statements on the session's connection, five round trips at most, because this write sits
on every request's path: the ORM's unit of work would cost most of the transaction's time, to
build objects nobody reads back.

Idempotent by the record's idempotency key: the run row goes in with `ON CONFLICT DO NOTHING`,
so a retry after a lost commit acknowledgement, or a concurrent writer of the same record that
committed first, inserts nothing, and the stored run's id is returned.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from softloop.agent.store import dialects, rollups
from softloop.agent.store.errors import StoreError
from softloop.agent.store.models import Attempt, CritiqueRow, Run, RunPromptVersion
from softloop.agent.store.records import RunRecord


@dataclass(frozen=True)
class _Statements:
    run: Any
    prompts: Any
    attempts: Any
    critiques: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Built once per dialect: building a statement costs more than executing it here."""

    def insert(table: Any) -> Any:
        return dialects.insert(dialect, table)

    # No conflict target: a clash on the key (already stored) and one on the id (a different
    # run) both insert nothing and are told apart in `record_run`, without aborting the
    # transaction.
    return _Statements(
        run=insert(Run).on_conflict_do_nothing().returning(Run.id),
        prompts=insert(RunPromptVersion),
        attempts=insert(Attempt).returning(Attempt.id, sort_by_parameter_order=True),
        critiques=insert(CritiqueRow),
    )


def record_run(session: Session, record: RunRecord) -> uuid.UUID:
    """Write `record` in the caller's transaction, or find it already written; its run id."""
    return add_run(session, record)[0]


def add_run(session: Session, record: RunRecord) -> tuple[uuid.UUID, bool]:
    """(run id, whether this call stored it): False when the record was already stored."""
    conn = session.connection()
    stmts = _statements(conn.dialect.name)
    run_row = dict(
        id=record.id,
        created_at=record.created_at,
        task=record.task,
        input=record.input,
        final_output=record.final_output,
        status=record.status,
        rounds=record.rounds,
        latency_s=record.latency_s,
        prompt_versions=dict(record.prompt_versions),
        idempotency_key=record.idempotency_key,
        metadata=record.metadata,  # the column, not the ORM attribute `metadata_`
    )
    inserted = conn.execute(stmts.run, run_row).scalar()
    if inserted is None:
        key = record.idempotency_key
        existing = conn.execute(select(Run.id).where(Run.idempotency_key == key)).scalar()
        if existing is not None:
            return existing, False
        raise StoreError(
            f"a different run with id {record.id} is already stored; build a new RunRecord "
            "for a new run instead of reusing one"
        )
    prompts = [
        dict(run_id=record.id, name=n, version=v, created_at=record.created_at)
        for n, v in record.prompt_versions.items()
    ]
    if prompts:
        conn.execute(stmts.prompts, prompts)
    attempts = [
        dict(
            run_id=record.id,
            round=a.round,
            output=a.output,
            prompt_name=a.prompt_name,
            prompt_version=a.prompt_version,
            latency_s=a.latency_s,
            oracle_correct=a.oracle_correct,
        )
        for a in record.attempts
    ]
    if attempts:
        ids = conn.execute(stmts.attempts, attempts).scalars().all()
        critiques = [
            dict(
                attempt_id=attempt_id,
                critic=c.critic,
                verdict=c.verdict,
                score=c.score,
                feedback=c.feedback,
            )
            for attempt_id, a in zip(ids, record.attempts, strict=True)
            for c in a.critiques
        ]
        if critiques:
            conn.execute(stmts.critiques, critiques)
    # The run's hourly counts go in with the run: a rolled-back run counts nothing.
    counted = (
        record.created_at,
        record.task,
        record.status,
        record.rounds or 0,
        record.prompt_versions,
    )
    rollups.upsert(conn, rollups.count_runs([counted]))
    return record.id, True
