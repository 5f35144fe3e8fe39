"""`Store`: the one object the loop, the refiner and the CLI use to reach the database.

Each public method is one unit of work: a fresh session, one transaction, wrapped in a named
retry policy (`agent.store.retry`) and with any error the retries could not cure turned into a
one-sentence `StoreError`. Returned objects are detached (`expire_on_commit=False`), so they can
be read after the session is gone.

Schema: on first use the store compares the database's Alembic revision with the newest one
shipped. The default SQLite file is created and upgraded automatically; any other database
(PostgreSQL above all) is never altered silently — `SchemaOutdatedError` says to run
`softloop db upgrade`.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy import Connection, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying

from softloop.agent import settings
from softloop.agent.store import migrate, queries, registry, writes
from softloop.agent.store.engine import describe, make_engine, safe_url, sqlite_path, write_engine
from softloop.agent.store.errors import SchemaOutdatedError, StoreError
from softloop.agent.store.models import (
    Label,
    PromptVersion,
    RefineJob,
)
from softloop.agent.store.records import RunDetail, RunRecord, RunSummary, StatsReport
from softloop.agent.store.retry import read_policy, write_policy
from softloop.prompts.names import check_text

T = TypeVar("T")

# Pooled connections must not cross a fork: a child that inherits them would share sockets (or
# SQLite handles) with its parent. Each live store drops its pool, without closing, in the child.
_live_stores: weakref.WeakSet[Store] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_live_stores):
        store.engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Store:
    """The correction-history store. `Store()` uses `SOFTLOOP_DATABASE_URL` or the default file.

    `auto_upgrade`: None (default) upgrades only the default SQLite database on first use;
    True/False force it on or off.
    """

    def __init__(self, url: str | None = None, *, auto_upgrade: bool | None = None) -> None:
        self.url = url or settings.database_url()
        if auto_upgrade is None:
            auto_upgrade = self.url == settings.default_database_url()
        self.auto_upgrade = auto_upgrade
        self.engine = make_engine(self.url)
        self._write_engine = write_engine(self.engine)
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        self._ready = False
        self._ready_lock = threading.Lock()
        _live_stores.add(self)

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)!r})"

    def close(self) -> None:
        """Close pooled connections (the store can still be used; it reconnects)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _io(self, policy: Retrying, fn: Callable[[], T]) -> T:
        """Run `fn` under `policy`; errors left over become one-sentence StoreErrors."""
        try:
            return policy(fn)
        except sa_exc.DBAPIError as err:
            raise describe(err, self.url) from err

    @contextmanager
    def _session(self, write: bool) -> Iterator[Session]:
        self._ensure_schema()
        factory = self._write_sessions if write else self._read_sessions
        with factory() as session, session.begin():
            yield session

    def _read(self, fn: Callable[[Session], T]) -> T:
        def once() -> T:
            with self._session(write=False) as session:
                return fn(session)

        return self._io(read_policy(), once)

    def _write(self, fn: Callable[[Session], T]) -> T:
        def once() -> T:
            with self._session(write=True) as session:
                return fn(session)

        return self._io(write_policy(), once)

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            path = sqlite_path(self.url)
            if path is not None and not path.exists() and not self.auto_upgrade:
                # Connecting would create an empty file; say what to do instead.
                raise SchemaOutdatedError(
                    f"there is no database file at {path}; run `softloop db upgrade` to create it"
                )
            if path is not None and self.auto_upgrade:
                path.parent.mkdir(parents=True, exist_ok=True)
            with self.engine.connect() as conn:
                current = migrate.current_revision(conn)
            head = migrate.head_revision()
            if current != head:
                if current is not None and current not in migrate.known_revisions():
                    raise SchemaOutdatedError(
                        f"the database at {safe_url(self.url)} is at schema revision {current}, "
                        "newer than this softloop knows; upgrade softloop"
                    )
                if not self.auto_upgrade:
                    raise SchemaOutdatedError(
                        f"the database at {safe_url(self.url)} is at schema revision "
                        f"{current or 'none (empty)'} but softloop needs {head}; "
                        "run `softloop db upgrade`"
                    )
                self._migrate(migrate.upgrade)
            self._ready = True

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self, fn: Callable[[Connection], T]) -> T:
        def once() -> T:
            path = sqlite_path(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            with self._write_engine.begin() as conn:
                return fn(conn)

        return self._io(write_policy(), once)

    def _refuse_unknown(self, conn: Connection) -> None:
        """A database migrated by a newer softloop: say so, instead of Alembic's traceback."""
        current = migrate.current_revision(conn)
        if current is not None and current not in migrate.known_revisions():
            raise SchemaOutdatedError(
                f"the database at {safe_url(self.url)} is at schema revision {current}, newer "
                "than this softloop knows; upgrade softloop"
            )

    def upgrade(self, revision: str = "head") -> str | None:
        """Apply migrations up to `revision`; returns the revision the database is now at."""

        def run(conn: Connection) -> str | None:
            self._refuse_unknown(conn)
            migrate.upgrade(conn, revision)
            return migrate.current_revision(conn)

        result = self._migrate(run)
        self._ready = False
        return result

    def downgrade(self, revision: str) -> str | None:
        """Revert migrations down to `revision` ('base' empties the schema)."""

        def run(conn: Connection) -> str | None:
            self._refuse_unknown(conn)
            migrate.downgrade(conn, revision)
            return migrate.current_revision(conn)

        result = self._migrate(run)
        self._ready = False
        return result

    def current_revision(self) -> str | None:
        """The database's schema revision (None: never migrated)."""

        def once() -> str | None:
            path = sqlite_path(self.url)
            if path is not None and not path.exists():
                return None  # do not create the file just to look at it
            with self.engine.connect() as conn:
                return migrate.current_revision(conn)

        return self._io(read_policy(), once)

    @staticmethod
    def head_revision() -> str:
        return migrate.head_revision()

    # -- custom units of work ---------------------------------------------------------------

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run `fn(session)` in one read transaction, retried as a whole on transient errors.

        For queries the methods below do not cover (the refiner's training sets). `fn` may run
        more than once, so it must not have side effects outside the session. ORM objects it
        returns stay readable after the session closes (loaded attributes only).
        """
        return self._read(fn)

    def write(self, fn: Callable[[Session], T]) -> T:
        """Run `fn(session)` in one write transaction (committed on return), retried as a whole.

        `fn` may run more than once: make it idempotent, as `record_run` is.
        """
        return self._write(fn)

    # -- writing ----------------------------------------------------------------------------

    def record_run(self, run: RunRecord) -> uuid.UUID:
        """Write a run with its attempts and critiques in one transaction; returns its id.

        Idempotent: writing a record whose idempotency key is already stored (a retry after a
        lost commit acknowledgement, or a second call) returns the stored run's id and writes
        nothing.
        """
        return self._write(lambda session: writes.record_run(session, run))

    def add_run(self, run: RunRecord) -> tuple[uuid.UUID, bool]:
        """`record_run`, also saying whether this call stored the run (False: already there)."""
        return self._write(lambda session: writes.add_run(session, run))

    def add_label(
        self,
        run_id: str | uuid.UUID,
        correct: bool,
        answer: str | None = None,
        source: str = "human",
        author: str | None = None,
    ) -> Label:
        """Attach human or oracle feedback to a run (id or unique id prefix)."""
        if source not in ("human", "oracle"):
            raise StoreError(f"{source!r} is not a label source; use human or oracle")
        for text, what in ((answer, "label's answer"), (author, "label's author")):
            if text is not None:
                check_text(text, what)

        def add(session: Session) -> Label:
            label = Label(
                run_id=queries.resolve_run_id(session, run_id),
                correct=correct,
                answer=answer,
                source=source,
                author=author,
            )
            session.add(label)
            session.flush()
            return label

        return self._write(add)

    # -- reading ----------------------------------------------------------------------------

    def list_runs(
        self,
        task: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        prompt_version: str | tuple[str, int] | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunSummary]:
        """Runs, newest first, matching every filter given."""
        return self._read(
            lambda s: queries.list_runs(
                s,
                limit=limit,
                offset=offset,
                prompt_version=prompt_version,
                task=task,
                status=status,
                since=since,
                until=until,
                search=search,
            )
        )

    def get_run(self, run_id: str | uuid.UUID) -> RunDetail:
        """One run's trajectory; `run_id` may be a unique prefix (>= 4 hex digits)."""
        return self._read(lambda s: queries.get_run(s, run_id))

    def stats(
        self,
        task: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: queries.StatsBy = "prompt_version",
        *,
        exact: bool = False,
    ) -> StatsReport:
        """Runs, pass rate, first-attempt pass rate and mean rounds, in total and per group.

        Read from the hourly rollups plus the raw runs at the window's edges; `exact=True`
        aggregates every run instead (same answer, slower: a check and a fallback).
        """
        return self._read(
            lambda s: queries.stats(s, by=by, task=task, since=since, until=until, exact=exact)
        )

    def iter_runs(self, batch_size: int = 500, **filters: Any) -> Iterator[RunDetail]:
        """Every matching run's full trajectory, newest first, fetched a batch at a time.

        Pages by key (created_at, id), not OFFSET: runs written meanwhile neither shift nor
        repeat what is yielded, and each page costs the same however deep the export goes.
        """
        where = {k: v for k, v in filters.items() if v is not None}
        before: tuple[datetime, uuid.UUID] | None = None
        while True:

            def page_of(
                s: Session, before: tuple[datetime, uuid.UUID] | None = before
            ) -> list[RunSummary]:
                return queries.list_runs(s, limit=batch_size, before=before, **where)

            page = self._read(page_of)
            if not page:
                return
            ids = [r.id for r in page]

            def details(s: Session, ids: list[uuid.UUID] = ids) -> list[RunDetail]:
                return queries.iter_details(s, ids)

            yield from self._read(details)
            before = (page[-1].created_at, page[-1].id)

    def export_jsonl(self, path_or_file: str | Path | IO[str], **filters: Any) -> int:
        """Write matching runs (full trajectories) as JSON lines; returns how many."""

        def dump(out: IO[str]) -> int:
            n = 0
            for run in self.iter_runs(**filters):
                out.write(json.dumps(run.model_dump(mode="json"), ensure_ascii=False) + "\n")
                n += 1
            return n

        if isinstance(path_or_file, str | Path):
            with open(path_or_file, "w", encoding="utf-8") as out:
                return dump(out)
        return dump(path_or_file)

    # -- prompt registry ----------------------------------------------------------------------

    def add_prompt_version(
        self,
        name: str,
        kind: str,
        path: str | Path,
        sha256: str,
        *,
        manifest_sha256: str | None = None,
        version: int | None = None,
        parent: int | None = None,
        n_examples: int | None = None,
        metrics: dict[str, Any] | None = None,
        status: str = "candidate",
    ) -> PromptVersion:
        """Register a prompt file as a version (next number if `version` is None)."""
        return self._write(
            lambda s: registry.add_prompt_version(
                s,
                name=name,
                kind=kind,
                path=str(path),
                sha256=sha256,
                manifest_sha256=manifest_sha256,
                version=version,
                parent=parent,
                n_examples=n_examples,
                metrics=metrics,
                status=status,
            )
        )

    def register_prompt(
        self,
        name: str,
        kind: str,
        stage: registry.Stage,
        *,
        token: str,
        parent: int | None = None,
        n_examples: int | None = None,
        metrics: dict[str, Any] | None = None,
        status: str = "candidate",
        only_if_new: bool = False,
    ) -> PromptVersion | None:
        """Register the next version of `name` in one transaction, race-free and idempotent.

        `stage(version)` writes the files under a temporary name inside the transaction (it may
        run again on a retry) and says where they will live; see `agent.registry` for the rest.
        None when `only_if_new` and the name already has a version.
        """
        return self._write(
            lambda s: registry.register(
                s,
                name=name,
                kind=kind,
                stage=stage,
                token=token,
                parent=parent,
                n_examples=n_examples,
                metrics=metrics,
                status=status,
                only_if_new=only_if_new,
            )
        )

    def with_prompt_paths(self, name: str, fn: Callable[[list[str]], T]) -> T:
        """`fn(paths of every version of name)`, while no registration of `name` can run.

        For sweeping the files of registrations that never committed: a file no row points to
        cannot belong to a registration in progress while this holds the name's lock.
        """

        def locked(session: Session) -> T:
            registry.lock_registrations(session, name)
            return fn(registry.paths_of(session, name))

        return self._write(locked)

    def list_prompt_versions(self, name: str | None = None) -> list[PromptVersion]:
        query = select(PromptVersion).order_by(PromptVersion.name, PromptVersion.version)
        if name is not None:
            query = query.where(PromptVersion.name == name)
        return self._read(lambda s: list(s.scalars(query)))

    def get_prompt_version(self, name: str, version: int) -> PromptVersion:
        return self._read(lambda s: registry.get_prompt_version(s, name, version))

    def active_version(self, name: str) -> PromptVersion | None:
        return self._read(lambda s: registry.active_version(s, name))

    def active_versions(self, names: Sequence[str]) -> dict[str, PromptVersion]:
        """The active version row of each name that has one, in one query."""
        return self._read(lambda s: registry.active_versions(s, names))

    def active_version_numbers(self, names: Sequence[str]) -> dict[str, int]:
        """name -> active version for each name that has one, in one light query: a run's
        prompt pick, at the start of every run."""
        return self._read(lambda s: registry.active_version_numbers(s, names))

    def set_status(self, name: str, version: int, status: str) -> PromptVersion:
        """Set a version's status (use `promote` to make one active)."""
        if status == "active":
            return self.promote(name, version)

        def set_(s: Session) -> PromptVersion:
            registry._check(status, registry.PromptStatus, "prompt status")
            row = registry.get_prompt_version(s, name, version, lock=True)
            row.status = status
            return row

        return self._write(set_)

    def promote(self, name: str, version: int) -> PromptVersion:
        """Atomically: the active version -> retired, this one -> active (promoted_at set)."""
        return self._write(lambda s: registry.promote(s, name, version))

    def rollback(self, name: str) -> PromptVersion:
        """Atomically: the active version -> rejected, the previously promoted one -> active."""
        return self._write(lambda s: registry.rollback(s, name))

    # -- refine jobs and leases --------------------------------------------------------------

    def try_acquire_lease(self, prompt_name: str, owner: str, ttl_s: float) -> RefineJob | None:
        """A running job holding `prompt_name`'s lease for `ttl_s` seconds, or None if taken."""
        return self._write(lambda s: registry.try_acquire_lease(s, prompt_name, owner, ttl_s))

    def renew_lease(self, job_id: int, owner: str, ttl_s: float) -> bool:
        """Extend a held lease; False if it expired or was taken over (stop working then)."""
        return self._write(lambda s: registry.renew_lease(s, job_id, owner, ttl_s))

    def last_job(self, prompt_name: str, status: str) -> RefineJob | None:
        """The newest refine job of `prompt_name` that ended with `status`, if any."""
        return self._read(lambda s: registry.last_job(s, prompt_name, status))

    def release_lease(self, job_id: int, owner: str) -> bool:
        """Drop a running job that did no work, releasing its lease without leaving a row."""
        return self._write(lambda s: registry.release_lease(s, job_id, owner))

    def finish_job(
        self,
        job_id: int,
        status: str,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> RefineJob:
        """Close a job (succeeded / failed / abandoned), releasing its lease."""
        return self._write(lambda s: registry.finish_job(s, job_id, status, metrics, error))

    def list_jobs(self, prompt_name: str | None = None, limit: int = 50) -> list[RefineJob]:
        query = select(RefineJob).order_by(RefineJob.started_at.desc(), RefineJob.id.desc())
        if prompt_name is not None:
            query = query.where(RefineJob.prompt_name == prompt_name)
        return self._read(lambda s: list(s.scalars(query.limit(limit))))


__all__ = ["Store"]
