"""The review queries: history filters, one run's trajectory, stats. Pure SQL building.

Everything here takes an open `Session` and runs once; `Store` adds retries and sessions.
Filters are written so an index serves them on both databases: runs `(task, created_at, ...)`,
`(status, created_at)`, `(created_at, ...)`, `run_prompt_versions (name, version, created_at)`,
and the primary key for id prefixes (a prefix is a key range, like git's abbreviated hashes).
Stats read the hourly rollups (`agent.store.rollups`) and only the raw runs at a window's edges.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from softloop.agent.store import dialects, rollups
from softloop.agent.store.errors import AmbiguousRunIdError, RunNotFoundError, StoreError
from softloop.agent.store.models import Attempt, Run, RunPromptVersion
from softloop.agent.store.records import (
    AttemptView,
    LabelView,
    RunDetail,
    RunSummary,
    StatsReport,
    StatsRow,
)

StatsBy = Literal["prompt_version", "day"] | None
MIN_PREFIX = 4


def parse_prompt_ref(ref: str | tuple[str, int]) -> tuple[str, int | None]:
    """'path@3' -> ('path', 3); 'path' -> ('path', None) meaning any version."""
    if isinstance(ref, tuple):
        return ref[0], int(ref[1])
    name, sep, version = ref.partition("@")
    if not sep:
        return name, None
    if not version.isdigit():
        raise StoreError(
            f"cannot read the prompt version {ref!r}; write it as NAME@VERSION, e.g. path@3"
        )
    return name, int(version)


def run_filters(
    *,
    task: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
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
    if search:
        clauses.append(
            or_(
                Run.input.icontains(search, autoescape=True),
                Run.final_output.icontains(search, autoescape=True),
            )
        )
    return clauses


def summary(run: Run) -> RunSummary:
    return RunSummary.model_validate(run)


def detail(run: Run) -> RunDetail:
    return RunDetail(
        **summary(run).model_dump(),
        idempotency_key=run.idempotency_key,
        metadata=run.metadata_,  # not `metadata`: on an ORM class that is the schema's MetaData
        attempts=[AttemptView.model_validate(a) for a in run.attempts],
        labels=[LabelView.model_validate(lb) for lb in run.labels],
    )


def list_runs(
    session: Session,
    *,
    limit: int = 50,
    offset: int = 0,
    before: tuple[datetime, uuid.UUID] | None = None,
    prompt_version: str | tuple[str, int] | None = None,
    **filters: Any,
) -> list[RunSummary]:
    """Newest first. `before=(created_at, id)` of the last run seen pages without OFFSET."""
    where = run_filters(**filters)
    # Order by the columns of the table the filter is served from, so that the database walks
    # an index backwards and stops after `limit` rows: runs' own time index, or, when a prompt
    # version is asked for, run_prompt_versions (name, version, created_at), which carries the
    # run's created_at for exactly this reason.
    at, key = Run.created_at, Run.id
    query = select(Run)
    if prompt_version is not None:
        name, version = parse_prompt_ref(prompt_version)
        at, key = RunPromptVersion.created_at, RunPromptVersion.run_id
        query = query.join(RunPromptVersion, RunPromptVersion.run_id == Run.id)
        where.append(RunPromptVersion.name == name)
        if version is not None:
            where.append(RunPromptVersion.version == version)
    if before is not None:
        last_at, last_id = before
        where.append(or_(at < last_at, and_(at == last_at, key < last_id)))
    query = query.where(*where).order_by(at.desc(), key.desc()).limit(limit).offset(offset)
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
    matches = session.scalars(select(Run.id).where(Run.id.between(low, high)).limit(2)).all()
    if not matches:
        raise RunNotFoundError(
            f"no run has an id starting with {run_id!r}; list runs with `softloop history`"
        )
    if len(matches) > 1:
        raise AmbiguousRunIdError(
            f"the id prefix {run_id!r} matches several runs; give more digits of the id"
        )
    return matches[0]


def get_run(session: Session, run_id: str | uuid.UUID) -> RunDetail:
    full = resolve_run_id(session, run_id)
    run = session.scalars(_with_trajectory(select(Run).where(Run.id == full))).one()
    return detail(run)


def _raw_sums(
    session: Session,
    by: StatsBy,
    task: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[Any, rollups.Sums]:
    """The same counts as `rollups.sums`, aggregated from the runs themselves."""
    passed = Run.status == "passed"
    aggregates = [
        func.count(),
        func.sum(case((passed, 1), else_=0)),
        func.sum(case((and_(passed, Run.rounds == 1), 1), else_=0)),
        func.sum(Run.rounds),
    ]
    where = run_filters(task=task, since=since, until=until)
    if by == "day":
        keys: list[Any] = [dialects.day_of(session, Run.created_at)]
    elif by == "prompt_version":
        keys = [RunPromptVersion.name, RunPromptVersion.version]
    else:
        keys = []
    query = select(*keys, *aggregates).where(*where)
    if by == "prompt_version":
        query = query.join(RunPromptVersion, RunPromptVersion.run_id == Run.id)
    return rollups.grouped_sums(session, query, keys, by)


def _merge(*parts: dict[Any, rollups.Sums]) -> dict[Any, rollups.Sums]:
    out: dict[Any, rollups.Sums] = {}
    for part in parts:
        for key, values in part.items():
            out[key] = [a + b for a, b in zip(out.get(key, [0, 0, 0, 0]), values, strict=True)]
    return out


def _row(key: str | None, values: rollups.Sums) -> StatsRow:
    runs, passed, first, rounds = values
    return StatsRow(
        key=key,
        runs=runs,
        pass_rate=passed / runs if runs else None,
        first_attempt_pass_rate=first / runs if runs else None,
        mean_rounds=rounds / runs if runs else None,
    )


def _window_sums(
    session: Session,
    by: StatsBy,
    task: str | None,
    since: datetime | None,
    until: datetime | None,
    exact: bool,
) -> dict[Any, rollups.Sums]:
    """Counts over [since, until): whole hours from the rollups, the edges from raw runs."""
    if exact:
        return _raw_sums(session, by, task, since, until)
    inner_since = rollups.ceil_hour(since) if since is not None else None
    inner_until = rollups.floor_hour(until) if until is not None else None
    if inner_since is not None and inner_until is not None and inner_since >= inner_until:
        return _raw_sums(session, by, task, since, until)  # less than an hour: no whole hours
    parts = [rollups.sums(session, by, task, inner_since, inner_until)]
    if since is not None and inner_since is not None and since < inner_since:
        parts.append(_raw_sums(session, by, task, since, inner_since))
    if until is not None and inner_until is not None and inner_until < until:
        parts.append(_raw_sums(session, by, task, inner_until, until))
    return _merge(*parts)


def stats(
    session: Session,
    *,
    by: StatsBy = None,
    task: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    exact: bool = False,
) -> StatsReport:
    """Stats over runs; `exact=True` aggregates the runs themselves instead of the rollups."""
    if by not in (None, "prompt_version", "day"):
        raise StoreError(f"cannot group stats by {by!r}; use 'prompt_version', 'day' or none")
    total = _window_sums(session, None, task, since, until, exact).get(None, [0, 0, 0, 0])
    rows: list[StatsRow] = []
    if by is not None:
        groups = _window_sums(session, by, task, since, until, exact)

        def order(key: str) -> tuple[str, int]:
            name, _, version = key.rpartition("@")
            return (name, int(version)) if by == "prompt_version" else (key, 0)

        rows = [_row(k, groups[k]) for k in sorted(groups, key=order)]
    return StatsReport(by=by, total=_row(None, total), rows=rows)
