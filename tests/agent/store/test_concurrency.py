"""Many writers at once, and transient failures that the retry policies must absorb."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import uuid

import psycopg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy import exc as sa_exc

from softloop.agent.store import Attempt, CritiqueRow, Run, Store
from tests.runs import build_run

N_SHARED = 5  # records every writer tries to write: they must arrive once


def shared_record(i: int):
    return build_run(
        input=f"shared{i}",
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"softloop-test-shared-{i}"),
        idempotency_key=f"shared-{i}",
    )


def write_runs(url: str, writer: int, n: int) -> list[str]:
    """Write n own runs plus the shared ones; returns the ids the store acknowledged."""
    store = Store(url, auto_upgrade=False)
    ids = []
    for i in range(n):
        ids.append(str(store.record_run(build_run(input=f"w{writer}-{i}"))))
        if i < N_SHARED:
            ids.append(str(store.record_run(shared_record(i))))
    store.close()
    return ids


def _counts(store: Store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return tuple(
            conn.scalar(select(func.count()).select_from(t)) for t in (Run, Attempt, CritiqueRow)
        )  # type: ignore[return-value]


def _check_exactly_once(store: Store, writers: int, n: int, acknowledged: list[str]) -> None:
    expected_runs = writers * n + N_SHARED
    assert _counts(store) == (expected_runs, 2 * expected_runs, 2 * expected_runs)
    inputs = [r.input for r in store.list_runs(limit=10_000)]
    assert len(inputs) == len(set(inputs)) == expected_runs
    assert len(set(acknowledged)) == expected_runs  # every shared write acknowledged the same id
    # The hourly rollups were upserted by all writers at once and still add up.
    assert store.stats(by="prompt_version") == store.stats(by="prompt_version", exact=True)
    assert store.stats(by=None).total.runs == expected_runs


def test_concurrent_threads_write_every_run_exactly_once(store: Store) -> None:
    writers, n = 6, 8
    results: list[list[str]] = [[] for _ in range(writers)]
    barrier = threading.Barrier(writers)

    def work(k: int) -> None:
        barrier.wait()
        results[k] = write_runs(store.url, k, n)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check_exactly_once(store, writers, n, [i for r in results for i in r])


def _write_in_child(url: str, writer: int, n: int, barrier, results) -> None:
    barrier.wait()
    results.put(write_runs(url, writer, n))


def test_concurrent_processes_write_every_run_exactly_once(store: Store) -> None:
    # fork, not spawn: a spawned child re-imports torch (via `prompts`), seconds on 2 cores.
    writers, n = 3, 8
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(target=_write_in_child, args=(store.url, k, n, barrier, results))
        for k in range(writers)
    ]
    for p in procs:
        p.start()
    acknowledged = [i for _ in procs for i in results.get(timeout=60)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    _check_exactly_once(store, writers, n, acknowledged)


def _driver_error(backend: str) -> Exception:
    if backend == "sqlite":
        return sqlite3.OperationalError("database is locked")
    return psycopg.errors.SerializationFailure("could not serialize access")


def test_transient_driver_errors_are_retried(store: Store, backend: str, make_run) -> None:
    failures = {"left": 3}

    @event.listens_for(store.engine, "before_cursor_execute")
    def flaky(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO RUNS") and failures["left"] > 0:
            failures["left"] -= 1
            raise _driver_error(backend)

    record = make_run()
    assert store.record_run(record) == record.id
    assert failures["left"] == 0
    assert _counts(store) == (1, 2, 2)


def test_a_lost_commit_acknowledgement_does_not_duplicate_the_run(store: Store, make_run) -> None:
    lost = {"left": 1}

    @event.listens_for(store._write_sessions, "after_commit")
    def drop_ack(session):
        # The commit reached the database; the client only hears that the connection died.
        if lost["left"]:
            lost["left"] -= 1
            raise sa_exc.OperationalError(
                "COMMIT", {}, psycopg.OperationalError("server closed the connection unexpectedly")
            )

    record = make_run()
    assert store.record_run(record) == record.id
    assert lost["left"] == 0
    assert _counts(store) == (1, 2, 2)


def test_a_permanent_error_is_not_retried(store: Store, backend: str) -> None:
    calls = {"n": 0}

    @event.listens_for(store.engine, "before_cursor_execute")
    def broken(conn, cursor, statement, params, context, executemany):
        if "FROM runs" in statement:
            calls["n"] += 1
            raise (sqlite3.OperationalError if backend == "sqlite" else psycopg.ProgrammingError)(
                "no such column: runs.nonsense"
            )

    with pytest.raises(Exception, match="nonsense"):
        store.list_runs()
    assert calls["n"] == 1


@pytest.mark.parametrize("backend", ["postgresql"])
def test_connections_killed_by_the_server_are_replaced(store: Store, make_run) -> None:
    from sqlalchemy import create_engine, text

    from tests.databases import PG_ADMIN_URL

    store.list_runs()  # the pool now holds a live connection
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": store.engine.url.database},
        ).scalar()
    admin.dispose()
    assert killed >= 1
    record = make_run()
    assert store.record_run(record) == record.id
    assert [r.id for r in store.list_runs()] == [record.id]
