"""The review queries: history filters, one run's trajectory, stats. Pure SQL building.

Everything here takes an open `Session` and runs once; `Store` adds retries and sessions.
Filters are written so an index serves them on both databases: `(task, created_at)`,
`(status, created_at)`, `(created_at)`, `run_prompt_versions (name, version)`, and the primary
key for id prefixes (a prefix is a key range, like git's abbreviated hashes).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from agent.store.errors import AmbiguousRunIdError, RunNotFoundError, StoreError
from agent.store.models import Attempt, Run, RunPromptVersion
from agent.store.records import (
    AttemptView,
    CritiqueView,
    LabelView,
    RunDetail,
    RunSummary,
    StatsReport,
    StatsRow,
)

StatsBy = Literal["prompt_version", "day"] | None
MIN_PREFIX = 4


def parse_prompt_ref(ref: str | tuple[str, int]) -> tuple[str, int | None]:
    """'reverse@3' -> ('reverse', 3); 'reverse' -> ('reverse', None) meaning any version."""
    if isinstance(ref, tuple):
        return ref[0], int(ref[1])
    name, sep, version = ref.partition("@")
    if not sep:
        return name, None
    if not version.isdigit():
        raise StoreError(
            f"cannot read the prompt version {ref!r}; write it as NAME@VERSION, e.g. reverse@3"
        )
    return name, int(version)


def run_filters(
    *,
    task: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    prompt_version: str | tuple[str, int] | None = None,
    search: str | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses over `runs` for the history filters (all optional, combined with AND)."""
    clauses: list[ColumnElement[bool]] = []
    if task is not None:
        clauses.append(Run.task == task)
    if status is not None:
        clauses.append(Run.status == status)
    if since is not None:
        clauses.append(Run.created_at >= since)
    if until is not None:
        clauses.append(Run.created_at < until)
    if prompt_version is not None:
        name, version = parse_prompt_ref(prompt_version)
        used = and_(RunPromptVersion.run_id == Run.id, RunPromptVersion.name == name)
        if version is not None:
            used = and_(used, RunPromptVersion.version == version)
        clauses.append(exists().where(used))
    if search:
        clauses.append(
            or_(
                Run.input.icontains(search, autoescape=True),
                Run.final_output.icontains(search, autoescape=True),
            )
        )
    return clauses


def summary(run: Run) -> RunSummary:
    return RunSummary(
        id=run.id,
        created_at=run.created_at,
        task=run.task,
        input=run.input,
        final_output=run.final_output,
        status=run.status,  # type: ignore[arg-type]
        rounds=run.rounds,
        latency_s=run.latency_s,
        prompt_versions=run.prompt_versions,
    )


def detail(run: Run) -> RunDetail:
    return RunDetail(
        **summary(run).model_dump(),
        idempotency_key=run.idempotency_key,
        metadata=run.metadata_,
        attempts=[
            AttemptView(
                round=a.round,
                output=a.output,
                prompt_name=a.prompt_name,
                prompt_version=a.prompt_version,
                latency_s=a.latency_s,
                oracle_correct=a.oracle_correct,
                critiques=[
                    CritiqueView(
                        critic=c.critic,
                        verdict=c.verdict,
                        score=c.score,  # type: ignore[arg-type]
                        feedback=c.feedback,
                    )
                    for c in a.critiques
                ],
            )
            for a in run.attempts
        ],
        labels=[
            LabelView(
                correct=lb.correct,
                answer=lb.answer,
                source=lb.source,  # type: ignore[arg-type]
                author=lb.author,
                created_at=lb.created_at,
            )
            for lb in run.labels
        ],
    )


def list_runs(
    session: Session,
    *,
    limit: int = 50,
    offset: int = 0,
    before: tuple[datetime, uuid.UUID] | None = None,
    **filters: Any,
) -> list[RunSummary]:
    """Newest first. `before=(created_at, id)` of the last run seen pages without OFFSET."""
    where = run_filters(**filters)
    if before is not None:
        at, last_id = before
        where.append(or_(Run.created_at < at, and_(Run.created_at == at, Run.id < last_id)))
    query = (
        select(Run)
        .where(*where)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [summary(run) for run in session.scalars(query)]


def _with_trajectory(query: Select[Any]) -> Select[Any]:
    return query.options(
        selectinload(Run.attempts).selectinload(Attempt.critiques), selectinload(Run.labels)
    )


def iter_details(session: Session, ids: Sequence[uuid.UUID]) -> list[RunDetail]:
    """Full trajectories for many runs in three queries, in the order of `ids`."""
    runs = {r.id: r for r in session.scalars(_with_trajectory(select(Run).where(Run.id.in_(ids))))}
    return [detail(runs[i]) for i in ids if i in runs]


def resolve_run_id(session: Session, run_id: str | uuid.UUID) -> uuid.UUID:
    """A full id, or a unique prefix of at least 4 hex digits (dashes ignored), to the run's id."""
    if isinstance(run_id, uuid.UUID):
        found = session.scalar(select(Run.id).where(Run.id == run_id))
        if found is None:
            raise RunNotFoundError(f"no run has the id {run_id}; list runs with `softloop history`")
        return found
    prefix = run_id.strip().lower().replace("-", "")
    if (
        len(prefix) < MIN_PREFIX
        or len(prefix) > 32
        or any(c not in "0123456789abcdef" for c in prefix)
    ):
        raise RunNotFoundError(
            f"{run_id!r} is not a run id; give the id or at least its first {MIN_PREFIX} hex "
            "digits, as `softloop history` shows them"
        )
    low, high = uuid.UUID(prefix.ljust(32, "0")), uuid.UUID(prefix.ljust(32, "f"))
    found = session.scalars(select(Run.id).where(Run.id.between(low, high)).limit(2)).all()
    if not found:
        raise RunNotFoundError(
            f"no run has an id starting with {run_id!r}; list runs with `softloop history`"
        )
    if len(found) > 1:
        raise AmbiguousRunIdError(
            f"the id prefix {run_id!r} matches several runs; give more digits of the id"
        )
    return found[0]


def get_run(session: Session, run_id: str | uuid.UUID) -> RunDetail:
    full = resolve_run_id(session, run_id)
    run = session.scalars(_with_trajectory(select(Run).where(Run.id == full))).one()
    return detail(run)


def _day(session: Session) -> ColumnElement[Any]:
    """The UTC calendar day of a run, as 'YYYY-MM-DD' text."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Run.created_at), "YYYY-MM-DD")
    return func.substr(Run.created_at, 1, 10)  # SQLite stores naive UTC 'YYYY-MM-DD HH:MM:SS'


def _aggregates() -> list[ColumnElement[Any]]:
    passed = Run.status == "passed"
    return [
        func.count(),
        func.sum(case((passed, 1), else_=0)),
        func.sum(case((and_(passed, Run.rounds == 1), 1), else_=0)),
        func.avg(Run.rounds),
    ]


def _row(key: str | None, runs: int, passed: Any, first: Any, mean_rounds: Any) -> StatsRow:
    return StatsRow(
        key=key,
        runs=runs,
        pass_rate=(passed / runs) if runs else None,
        first_attempt_pass_rate=(first / runs) if runs else None,
        mean_rounds=float(mean_rounds) if mean_rounds is not None else None,
    )


def stats(session: Session, *, by: StatsBy = None, **filters: Any) -> StatsReport:
    if by not in (None, "prompt_version", "day"):
        raise StoreError(f"cannot group stats by {by!r}; use 'prompt_version', 'day' or none")
    where = run_filters(**filters)
    total = session.execute(select(*_aggregates()).where(*where)).one()
    rows: list[StatsRow] = []
    if by == "day":
        day = _day(session).label("day")
        query = select(day, *_aggregates()).where(*where).group_by(day).order_by(day)
        rows = [_row(r[0], *r[1:]) for r in session.execute(query)]
    elif by == "prompt_version":
        name, version = RunPromptVersion.name, RunPromptVersion.version
        query = (
            select(name, version, *_aggregates())
            .join(RunPromptVersion, RunPromptVersion.run_id == Run.id)
            .where(*where)
            .group_by(name, version)
            .order_by(name, version)
        )
        rows = [_row(f"{r[0]}@{r[1]}", *r[2:]) for r in session.execute(query)]
    return StatsReport(by=by, total=_row(None, *total), rows=rows)
