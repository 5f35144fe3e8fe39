"""Retry policies for the store, named and kept in one place.

Only the store's public methods (the I/O boundary) are wrapped; everything below them runs once
per try inside one transaction, so a retry always starts from a clean session. A retry is only
safe because writes are idempotent (see `Store.record_run`).

What counts as transient: a dropped or refused connection, PostgreSQL serialization failures
and deadlocks, an admin shutdown, and SQLite's "database is locked" when another writer held
the file past `busy_timeout`. Everything else (a constraint violation, a missing table) is a bug
or a user error and is raised at once.
"""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import exc as sa_exc
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

log = logging.getLogger("softloop.store")

# SQLSTATE classes and codes worth another try: 08 connection exceptions, serialization
# failure, deadlock, admin/crash shutdown, cannot connect now, lock not available.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "55P03"}


def is_transient(err: BaseException) -> bool:
    """True for database errors that another try may cure."""
    if not isinstance(err, sa_exc.DBAPIError):
        return False
    if err.connection_invalidated:
        return True
    orig = err.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all; a
    # missing database or a refused password will not fix itself, though.
    message = str(orig).lower()
    if "does not exist" in message or "authentication failed" in message:
        return False
    return isinstance(err, sa_exc.OperationalError)


def _policy(attempts: int, max_delay_s: float, max_wait_s: float) -> Retrying:
    return Retrying(
        retry=retry_if_exception(is_transient),
        # Full-jitter exponential backoff: 50 ms, 100 ms, 200 ms... capped, spread at random so
        # that writers that collided once do not collide again in lockstep.
        wait=wait_random_exponential(multiplier=0.05, max=max_wait_s),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_delay_s),
        # INFO, not WARNING: a retry that succeeds is routine, and the CLI must stay one line.
        before_sleep=before_sleep_log(log, logging.INFO),
        reraise=True,
    )


def write_policy() -> Retrying:
    """For writes: a run must not be lost, so try harder (up to 8 tries, 30 s)."""
    return _policy(attempts=8, max_delay_s=30.0, max_wait_s=2.0)


def read_policy() -> Retrying:
    """For reads behind a person at a terminal: fail within a few seconds."""
    return _policy(attempts=3, max_delay_s=5.0, max_wait_s=0.5)
