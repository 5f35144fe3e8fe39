"""Engines set up for many writers, and database errors turned into one readable sentence.

SQLite: WAL journal (readers never block the writer), a busy timeout (a writer waits for the
lock instead of failing at once), foreign keys on, and transactions that say how they begin:
writes `BEGIN IMMEDIATE` (take the write lock up front, so two writers cannot both read and then
deadlock upgrading their locks), reads a plain deferred `BEGIN`. pysqlite's own implicit
transaction handling is switched off so these BEGINs are the only ones.

PostgreSQL (psycopg 3): a connect timeout so an unreachable server fails in seconds, and
`pool_pre_ping` so a connection dropped while idle in the pool is replaced, not handed out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from softloop.agent.store.errors import DatabaseUnavailableError, StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000  # longer than any one write transaction we make
PG_CONNECT_TIMEOUT_S = 5


_QUERY_SECRET = re.compile(r"(?i)\b(password|passwd|pwd)=[^&;\s]*")


def safe_url(url: str) -> str:
    """The URL with any password masked, fit for messages, logs and reports.

    Also for a URL that does not parse (a typo must not print the password it holds): its
    user-info part is masked by hand.
    """
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        shown = _mask_userinfo(url)
    return _QUERY_SECRET.sub(r"\1=***", shown)


def _mask_userinfo(url: str) -> str:
    """`scheme://user:secret@host/...` -> `scheme://user:***@host/...`, without parsing."""
    head, at, rest = url.rpartition("@")
    if not at:
        return url
    scheme, sep, userinfo = head.rpartition("://")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{sep}{user}:***@{rest}" if colon else url


def sqlite_path(url: str) -> Path | None:
    """The file behind an SQLite URL, or None for other databases and in-memory SQLite.

    A URI filename (`sqlite:///file:/path/x.db?mode=ro&uri=true`) names its file after `file:`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = parsed.database
    if parsed.query.get("uri") in ("true", "1") and database.startswith("file:"):
        database = database.removeprefix("file:")
        if database in ("", ":memory:"):
            return None
    return Path(database)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` with the settings above; raises StoreError for a malformed URL."""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (a non-numeric port fails here, not deep in the driver)
    except (sa_exc.ArgumentError, ValueError) as err:
        reason = str(err).replace(url, safe_url(url))
        raise StoreError(
            f"cannot read the database URL {safe_url(url)!r} ({reason}); "
            "check SOFTLOOP_DATABASE_URL or --db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # the driver we ship with
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
        kwargs.setdefault("pool_pre_ping", True)
        return _create(url, parsed, kwargs)
    if backend != "sqlite":
        return _create(url, parsed, kwargs)

    engine = _create(url, parsed, kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; safe with WAL
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _create(url: str, parsed: Any, kwargs: dict[str, Any]) -> Engine:
    """`create_engine`, with an unknown database or a missing driver said in one sentence."""
    try:
        return create_engine(parsed, **kwargs)
    except (sa_exc.ArgumentError, ImportError) as err:  # NoSuchModuleError is an ArgumentError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StoreError(
            f"cannot use the database URL {safe_url(url)!r} ({reason}); softloop stores runs in "
            "PostgreSQL (postgresql+psycopg://...) or SQLite (sqlite:///path)"
        ) from None


def write_engine(engine: Engine) -> Engine:
    """The same pool, with SQLite transactions that take the write lock at BEGIN."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def _reason(err: sa_exc.DBAPIError) -> str:
    """The driver's message shortened to its gist ('connection refused', 'database is locked')."""
    text = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
    lowered = text.lower()
    for gist in (
        "connection refused",
        "timeout expired",
        "could not translate host name",
        "no such host",
        "database is locked",
        "unable to open database file",
        "server closed the connection unexpectedly",
        "password authentication failed",
        "terminating connection due to administrator command",
        "attempt to write a readonly database",
    ):
        if gist in lowered:
            return gist
    return text.rstrip(".")


def describe(err: sa_exc.DBAPIError, url: str) -> StoreError:
    """Turn a database error the retries could not cure into a StoreError with one sentence."""
    where = safe_url(url)
    sqlstate = getattr(err.orig, "sqlstate", None)
    if sqlstate == "3D000" or re.search(r'database "[^"]*" does not exist', str(err.orig)):
        name = make_url(url).database
        return DatabaseUnavailableError(
            f"the database {name!r} does not exist on the server at {where}; "
            f"create it (createdb {name}) or check SOFTLOOP_DATABASE_URL"
        )
    reason = _reason(err)
    if "readonly database" in reason or "read-only" in reason:
        return StoreError(
            f"the database at {where} is read-only ({reason}); make the file and its folder "
            "writable, or point SOFTLOOP_DATABASE_URL at a database softloop may write"
        )
    if isinstance(err, sa_exc.OperationalError) or err.connection_invalidated:
        return DatabaseUnavailableError(
            f"cannot reach the database at {where} ({reason}); "
            "check SOFTLOOP_DATABASE_URL or start the server"
        )
    return StoreError(f"the database at {where} refused the operation ({reason})")
