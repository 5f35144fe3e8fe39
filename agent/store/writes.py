"""Writing one run: the run, its attempts, their critiques, its prompt rows and rollup counts.

Idempotent by the record's idempotency key: the key is looked up first (a retry after a lost
commit acknowledgement finds its run and writes nothing), and a concurrent writer of the same
record that commits first makes our insert fail on the unique key inside a savepoint, after
which the winner's id is returned.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.store import rollups
from agent.store.errors import StoreError
from agent.store.models import Attempt, CritiqueRow, Run, RunPromptVersion
from agent.store.records import RunRecord


def record_run(session: Session, record: RunRecord) -> uuid.UUID:
    """Write `record` in the caller's transaction, or find it already written; its run id."""
    key = record.idempotency_key
    existing = session.scalar(select(Run.id).where(Run.idempotency_key == key))
    if existing is not None:
        return existing
    run = Run(
        id=record.id,
        created_at=record.created_at,
        task=record.task,
        input=record.input,
        final_output=record.final_output,
        status=record.status,
        rounds=record.rounds,
        latency_s=record.latency_s,
        prompt_versions=dict(record.prompt_versions),
        idempotency_key=key,
        metadata_=record.metadata,
        prompts=[
            RunPromptVersion(name=n, version=v, created_at=record.created_at)
            for n, v in record.prompt_versions.items()
        ],
        attempts=[
            Attempt(
                round=a.round,
                output=a.output,
                prompt_name=a.prompt_name,
                prompt_version=a.prompt_version,
                latency_s=a.latency_s,
                oracle_correct=a.oracle_correct,
                critiques=[
                    CritiqueRow(
                        critic=c.critic, verdict=c.verdict, score=c.score, feedback=c.feedback
                    )
                    for c in a.critiques
                ],
            )
            for a in record.attempts
        ],
    )
    try:
        # A savepoint, so a lost race below leaves the transaction usable for the lookup.
        # (The add goes inside: begin_nested() flushes whatever is pending before it starts.)
        with session.begin_nested():
            session.add(run)
            session.flush()
            # The run's hourly counts go in with the run: a rolled-back run counts nothing.
            counted = (
                record.created_at,
                record.task,
                record.status,
                record.rounds or 0,
                record.prompt_versions,
            )
            rollups.upsert(session, rollups.count_runs([counted]))
    except IntegrityError as err:
        # A concurrent writer of the same record committed first: its run is ours.
        existing = session.scalar(select(Run.id).where(Run.idempotency_key == key))
        if existing is not None:
            return existing
        if session.get(Run, record.id) is not None:
            raise StoreError(
                f"a different run with id {record.id} is already stored; build a new RunRecord "
                "for a new run instead of reusing one"
            ) from err
        raise
    return run.id
