"""Prompt-version rows and refine-job leases: the database half of the prompt registry.

The refiner (`softloop.agent.refine`) builds on these. Three invariants are kept by the database
itself, not by careful callers: one row per (name, version), at most one *active* version per
prompt name, and at most one *running* refine job per prompt name (unique constraints and
partial unique indexes, on SQLite and PostgreSQL alike).

Registration: a version number is assigned inside the transaction that inserts the row, under
a per-name lock (PostgreSQL: an advisory lock; SQLite: the write transaction itself), and the
row goes in with `INSERT ... ON CONFLICT DO NOTHING`, so many processes registering at once
never collide and never crash: each gets the next number, or, for a first registration
(`only_if_new`), all but one find the name taken and step aside.

Leases: `try_acquire_lease` first expires a running job whose lease has run out (its refiner
crashed), then inserts a new running job. Two acquirers racing both try to insert; the unique
index lets exactly one through and the other gets None. On PostgreSQL the acquirers for one
prompt are additionally serialised by a transaction-scoped advisory lock, so the loser waits a
moment and sees the winner's row instead of hitting the index. SQLite's `BEGIN IMMEDIATE`
serialises them the same way. Lease times come from the database's clock on PostgreSQL, so
refiners on machines with skewed clocks agree on when a lease ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from softloop.agent.store import dialects
from softloop.agent.store.errors import JobNotFoundError, PromptVersionNotFoundError, StoreError
from softloop.agent.store.models import (
    JobStatus,
    PromptKind,
    PromptStatus,
    PromptVersion,
    RefineJob,
)
from softloop.prompts.names import check_name

REGISTRATION = "prompt"  # the lock scope of a name's registrations and of sweeping its files


def _check(value: str, enum: type[StrEnum], what: str) -> str:
    allowed = [m.value for m in enum]
    if value not in allowed:
        raise StoreError(f"{value!r} is not a {what}; use one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class StagedFiles:
    """Where a version's files will live once its row is committed, and their checksums."""

    path: str
    sha256: str
    manifest_sha256: str | None = None


# version number -> the files, written under a temporary name (see agent/registry.py)
Stage = Callable[[int], StagedFiles]


def lock_registrations(session: Session, name: str) -> None:
    """Serialise registrations of `name` (and sweeps of its files) until the transaction ends."""
    dialects.lock_name(session, name, scope=REGISTRATION)


def next_version(session: Session, name: str) -> int:
    latest = session.scalar(
        select(func.max(PromptVersion.version)).where(PromptVersion.name == name)
    )
    return (latest or 0) + 1


def paths_of(session: Session, name: str) -> list[str]:
    """The files every version of `name` points at."""
    return list(session.scalars(select(PromptVersion.path).where(PromptVersion.name == name)))


def _insert(
    session: Session,
    *,
    name: str,
    version: int,
    kind: str,
    files: StagedFiles,
    parent: int | None,
    n_examples: int | None,
    metrics: dict[str, Any] | None,
    status: str,
    replace_active: bool = True,
) -> PromptVersion | None:
    """The new row, or None if a unique constraint already holds one like it.

    An active row is inserted as a candidate and then promoted (the version active before is
    retired) if `replace_active`; otherwise it goes in active, and None says another is.
    """
    direct = status != "active" or not replace_active
    now = dialects.now(session)
    new_id = dialects.insert_or_ignore(
        session,
        PromptVersion,
        dict(
            name=name,
            version=version,
            kind=kind,
            path=files.path,
            sha256=files.sha256,
            manifest_sha256=files.manifest_sha256,
            parent=parent,
            n_examples=n_examples,
            metrics=metrics or {},
            status=status if direct else "candidate",
            created_at=now,
            promoted_at=now if status == "active" and direct else None,
        ),
        PromptVersion.id,
    )
    if new_id is None:
        return None
    row = session.get(PromptVersion, new_id)
    assert row is not None
    if not direct:
        row = promote(session, name, version)
    return row


def _checked(name: str, kind: str, status: str) -> None:
    check_name(name, "prompt name")
    _check(kind, PromptKind, "prompt kind")
    _check(status, PromptStatus, "prompt status")


def add_prompt_version(
    session: Session,
    *,
    name: str,
    kind: str,
    path: str,
    sha256: str,
    manifest_sha256: str | None = None,
    version: int | None = None,
    parent: int | None = None,
    n_examples: int | None = None,
    metrics: dict[str, Any] | None = None,
    status: str = "candidate",
) -> PromptVersion:
    _checked(name, kind, status)
    lock_registrations(session, name)
    version = next_version(session, name) if version is None else version
    files = StagedFiles(path, sha256, manifest_sha256)
    row = _insert(
        session,
        name=name,
        version=version,
        kind=kind,
        files=files,
        parent=parent,
        n_examples=n_examples,
        metrics=metrics,
        status=status,
        replace_active=False,
    )
    if row is None:
        raise StoreError(
            f"prompt {name}@{version} is already registered (or {name} already has an active "
            "version); pick the next version number or promote instead"
        )
    return row


def register(
    session: Session,
    *,
    name: str,
    kind: str,
    stage: Stage,
    token: str,
    parent: int | None = None,
    n_examples: int | None = None,
    metrics: dict[str, Any] | None = None,
    status: str = "candidate",
    only_if_new: bool = False,
) -> PromptVersion | None:
    """Register the next version of `name`, its files staged by `stage(version)`; or None.

    `token` is unique to this registration and ends its path: a retry of a transaction whose
    commit did happen finds its own row instead of registering the files twice. With
    `only_if_new`, a name that already has any version is left alone (None): the first
    registration of shipped defaults, run by every process at start-up.
    """
    _checked(name, kind, status)
    lock_registrations(session, name)
    mine = session.scalar(
        select(PromptVersion).where(
            PromptVersion.name == name, PromptVersion.path.endswith(f"-{token}")
        )
    )
    if mine is not None:
        return mine
    if only_if_new and session.scalar(
        select(PromptVersion.id).where(PromptVersion.name == name).limit(1)
    ):
        return None
    version = next_version(session, name)
    row = _insert(
        session,
        name=name,
        version=version,
        kind=kind,
        files=stage(version),
        parent=parent,
        n_examples=n_examples,
        metrics=metrics,
        status=status,
    )
    if row is None:  # the lock makes this unreachable; never register over another row
        raise StoreError(f"prompt {name}@{version} was registered meanwhile; register again")
    return row


def get_prompt_version(
    session: Session, name: str, version: int, *, lock: bool = False
) -> PromptVersion:
    query = select(PromptVersion).where(
        PromptVersion.name == name, PromptVersion.version == version
    )
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise PromptVersionNotFoundError(
            f"no prompt version {name}@{version} is registered; "
            "list them with `softloop prompts list`"
        )
    return row


def active_version(session: Session, name: str) -> PromptVersion | None:
    return active_versions(session, [name]).get(name)


def active_versions(session: Session, names: Sequence[str]) -> dict[str, PromptVersion]:
    """The active row of each of `names` that has one (the schema allows one per name)."""
    rows = session.scalars(
        select(PromptVersion).where(
            PromptVersion.name.in_(list(names)), PromptVersion.status == "active"
        )
    )
    return {row.name: row for row in rows}


# Built once: it runs at the start of every loop run.
_ACTIVE_NUMBERS = select(PromptVersion.name, PromptVersion.version).where(
    PromptVersion.name.in_(bindparam("names", expanding=True)), PromptVersion.status == "active"
)


def active_version_numbers(session: Session, names: Sequence[str]) -> dict[str, int]:
    """name -> active version, for each of `names` that has one; no row objects built."""
    rows = session.connection().execute(_ACTIVE_NUMBERS, {"names": list(names)})
    return {name: version for name, version in rows}


def promote(session: Session, name: str, version: int) -> PromptVersion:
    """Old active -> retired, `version` -> active, in the caller's (one) transaction."""
    # Lock every version of this name first: two promotions of one prompt then run one after
    # the other instead of both retiring the same old row and colliding on the one-active index.
    session.execute(select(PromptVersion.id).where(PromptVersion.name == name).with_for_update())
    new = get_prompt_version(session, name, version)
    if new.status == "active":
        return new
    now = dialects.now(session)
    # Retire first and flush, so the one-active index never sees two active rows.
    session.execute(
        update(PromptVersion)
        .where(PromptVersion.name == name, PromptVersion.status == "active")
        .values(status="retired")
    )
    new.status, new.promoted_at = "active", now
    session.flush()
    return new


def rollback(session: Session, name: str) -> PromptVersion:
    """Reject the active version and re-activate the one promoted before it."""
    session.execute(select(PromptVersion.id).where(PromptVersion.name == name).with_for_update())
    current = active_version(session, name)
    previous = session.scalar(
        select(PromptVersion)
        .where(
            PromptVersion.name == name,
            PromptVersion.status == "retired",
            PromptVersion.promoted_at.is_not(None),
        )
        .order_by(PromptVersion.promoted_at.desc(), PromptVersion.version.desc())
        .limit(1)
    )
    if previous is None:
        raise StoreError(f"prompt {name} has no earlier promoted version to roll back to")
    if current is not None:
        current.status = "rejected"
        session.flush()
    previous.status, previous.promoted_at = "active", dialects.now(session)
    session.flush()
    return previous


def try_acquire_lease(
    session: Session, prompt_name: str, owner: str, ttl_s: float
) -> RefineJob | None:
    """A new running job holding the lease, or None if another live job holds it."""
    check_name(prompt_name, "prompt name")
    if ttl_s <= 0:
        raise StoreError(
            f"a lease needs a positive ttl_s, got {ttl_s}; pass the seconds it may last"
        )
    dialects.lock_name(session, prompt_name)
    now = dialects.now(session)
    session.execute(
        update(RefineJob)
        .where(
            RefineJob.prompt_name == prompt_name,
            RefineJob.status == "running",
            RefineJob.lease_until < now,
        )
        .values(status="expired", finished_at=now, error="lease expired (refiner stopped renewing)")
    )
    holder = session.scalar(
        select(RefineJob.id).where(
            RefineJob.prompt_name == prompt_name, RefineJob.status == "running"
        )
    )
    if holder is not None:
        return None
    job = RefineJob(
        prompt_name=prompt_name,
        owner=owner,
        started_at=now,
        lease_until=now + timedelta(seconds=ttl_s),
        status="running",
        metrics={},
    )
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        return None  # another acquirer's insert won (the unique index decided)
    return job


def renew_lease(session: Session, job_id: int, owner: str, ttl_s: float) -> bool:
    """Extend a running job's lease; False if it is no longer this owner's running job."""
    now = dialects.now(session)
    result = session.execute(
        update(RefineJob)
        .where(
            RefineJob.id == job_id,
            RefineJob.owner == owner,
            RefineJob.status == "running",
            RefineJob.lease_until >= now,
        )
        .values(lease_until=now + timedelta(seconds=ttl_s))
    )
    return cast(CursorResult[Any], result).rowcount == 1


def last_job(session: Session, prompt_name: str, status: str) -> RefineJob | None:
    """The newest job of `prompt_name` that ended with `status`."""
    return session.scalar(
        select(RefineJob)
        .where(RefineJob.prompt_name == prompt_name, RefineJob.status == status)
        .order_by(RefineJob.started_at.desc(), RefineJob.id.desc())
        .limit(1)
    )


def release_lease(session: Session, job_id: int, owner: str) -> bool:
    """Drop a running job that did no work (nothing to refine), so it leaves no row behind."""
    result = session.execute(
        delete(RefineJob).where(
            RefineJob.id == job_id, RefineJob.owner == owner, RefineJob.status == "running"
        )
    )
    return cast(CursorResult[Any], result).rowcount == 1


def finish_job(
    session: Session,
    job_id: int,
    status: str,
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
) -> RefineJob:
    _check(status, JobStatus, "job status")
    if status == "running":
        raise StoreError("finish_job needs a final status; use succeeded, failed or abandoned")
    job = session.get(RefineJob, job_id, with_for_update=True)
    if job is None:
        raise JobNotFoundError(f"no refine job has the id {job_id}; it may have been deleted")
    job.status, job.finished_at, job.error = status, dialects.now(session), error
    if metrics is not None:
        job.metrics = {**job.metrics, **metrics}
    session.flush()
    return job
