"""Hourly run counts (`run_rollups`): written with each run, read by stats.

Stats over a time window = the rollup rows of the whole UTC hours inside it + an exact
aggregate over the raw runs of the partial hours at its two edges (an index range scan of under
an hour of runs each). The result equals aggregating every run, without reading every run.

Writers upsert their run's rows in the run's own transaction, in a fixed key order so that two
writers touching the same rows never deadlock (PostgreSQL locks the rows in that order).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.orm import Session

from softloop.agent.store import dialects
from softloop.agent.store.models import TOTAL, RunRollup

Key = tuple[datetime, str, str, int]
Sums = list[int]  # [runs, passed, first_pass, rounds_sum]


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floor = floor_hour(at)
    return floor if floor == at else floor + timedelta(hours=1)


def count_runs(
    runs: Iterable[tuple[datetime, str, str, int, dict[str, int]]],
) -> dict[Key, Sums]:
    """(created_at, task, status, rounds, prompt_versions) per run -> rollup increments."""
    sums: dict[Key, Counter[str]] = {}
    for created_at, task, status, rounds, prompt_versions in runs:
        hour = floor_hour(created_at)
        passed = int(status == "passed")
        add = Counter(runs=1, passed=passed, first_pass=passed * int(rounds == 1), rounds=rounds)
        for name, version in [(TOTAL, 0), *prompt_versions.items()]:
            sums.setdefault((hour, task, name, version), Counter()).update(add)
    return {k: [c["runs"], c["passed"], c["first_pass"], c["rounds"]] for k, c in sums.items()}


def upsert(session: Session | Connection, increments: dict[Key, Sums]) -> None:
    """Add the increments to the stored counts (insert the rows that do not exist yet).

    Takes a Session (`record_run`) or a Core Connection (bulk loaders).
    """
    if not increments:
        return
    rows = [
        dict(
            hour=h,
            task=t,
            prompt_name=n,
            prompt_version=v,
            runs=s[0],
            passed=s[1],
            first_pass=s[2],
            rounds_sum=s[3],
        )
        for (h, t, n, v), s in sorted(increments.items())
    ]
    session.execute(_upsert_statement(dialects.dialect_name(session)), rows)


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    """Built once per dialect: it is on every run's write path."""
    stmt = dialects.insert(dialect, RunRollup)
    return stmt.on_conflict_do_update(
        index_elements=["hour", "task", "prompt_name", "prompt_version"],
        set_={
            c: getattr(RunRollup, c) + getattr(stmt.excluded, c)
            for c in ("runs", "passed", "first_pass", "rounds_sum")
        },
    )


def sums(
    session: Session,
    by: str | None,
    task: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[Any, Sums]:
    """Counts from rollup rows with since <= hour < until (both hour-aligned or None)."""
    r = RunRollup
    where = [r.prompt_name != TOTAL] if by == "prompt_version" else [r.prompt_name == TOTAL]
    if task is not None:
        where.append(r.task == task)
    if since is not None:
        where.append(r.hour >= since)
    if until is not None:
        where.append(r.hour < until)
    aggregates = [
        func.sum(r.runs),
        func.sum(r.passed),
        func.sum(r.first_pass),
        func.sum(r.rounds_sum),
    ]
    if by == "prompt_version":
        keys: list[Any] = [r.prompt_name, r.prompt_version]
    elif by == "day":
        keys = [dialects.day_of(session, r.hour)]
    else:
        keys = []
    return grouped_sums(session, select(*keys, *aggregates).where(*where), keys, by)


def grouped_sums(
    session: Session, query: Select[Any], keys: list[Any], by: str | None
) -> dict[Any, Sums]:
    """Run `query` (selecting `keys`, then runs / passed / first pass / rounds) grouped by `keys`:
    one entry per non-empty group, keyed `name@version`, the day, or None for the total."""
    if keys:
        query = query.group_by(*keys)
    out: dict[Any, Sums] = {}
    for row in session.execute(query):
        values = [int(v or 0) for v in row[len(keys) :]]
        if values[0] == 0:
            continue
        key = None if not keys else f"{row[0]}@{row[1]}" if by == "prompt_version" else row[0]
        out[key] = values
    return out
