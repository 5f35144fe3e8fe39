"""The store's schema as SQLAlchemy 2 typed ORM models.

The `MetaData` carries a constraint naming convention from the first revision on, so every
index and constraint has the same, predictable name on SQLite and PostgreSQL and a later
migration can drop it by name. Columns whose Python type is `X | None` are nullable.

Allowed values of the status/kind/verdict columns are `StrEnum`s stored as short strings with a
CHECK constraint, not native enums: adding a value later is then a one-line migration on both
databases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from softloop.agent.vocabulary import STORED_RUN_STATUSES, PromptKind, Verdict

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer ids that are 64-bit on PostgreSQL and the rowid alias on SQLite (which must be INTEGER).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class LabelSource(StrEnum):
    human = "human"
    oracle = "oracle"


class PromptStatus(StrEnum):
    candidate = "candidate"
    active = "active"
    rejected = "rejected"
    retired = "retired"


class JobStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    abandoned = "abandoned"
    expired = "expired"  # the lease ran out (the refiner crashed); set by the next acquirer


def _in(column: str, values: Iterable[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in values)})"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that comes back aware (UTC) on SQLite too.

    SQLite has no time zone type: values are stored as naive UTC text, which also keeps their
    text order equal to time order for range filters. Naive inputs are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Run(Base):
    """One request through the loop: its input, final answer and outcome."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in("status", STORED_RUN_STATUSES), name="status"),
        # status and rounds ride along in the time indexes so that history and stats over a
        # time window (optionally one task) are index-only scans, not table lookups per row.
        Index(None, "task", "created_at", "status", "rounds"),
        Index(None, "created_at", "status", "rounds"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    task: Mapped[str] = mapped_column(String(64))
    input: Mapped[str] = mapped_column(Text)
    final_output: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    rounds: Mapped[int] = mapped_column(Integer)
    latency_s: Mapped[float | None] = mapped_column(Float)
    # {prompt name: version} used by this run; `RunPromptVersion` indexes the same pairs.
    prompt_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set by the writer before its first try, so a retry after a lost commit finds the run.
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="run", order_by="Attempt.round", cascade="all, delete-orphan"
    )
    labels: Mapped[list[Label]] = relationship(
        back_populates="run", order_by="Label.created_at", cascade="all, delete-orphan"
    )
    prompts: Mapped[list[RunPromptVersion]] = relationship(cascade="all, delete-orphan")


class RunPromptVersion(Base):
    """(run, prompt name, version): the runs.prompt_versions JSON, as rows an index can serve.

    Filtering history and grouping stats by prompt version then needs no dialect-specific JSON
    functions and uses an index on both databases.
    """

    __tablename__ = "run_prompt_versions"
    # created_at is the run's (runs are written once, never updated): with it in the index,
    # "newest runs that used path@3" is one backward index range scan, not a scan of runs.
    __table_args__ = (Index(None, "name", "version", "created_at"),)

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column()


TOTAL = "*"  # RunRollup.prompt_name of the per-run totals (no prompt name is "*")


class RunRollup(Base):
    """Counts of runs per UTC hour, task and prompt version, kept by every `record_run`.

    Stats read these few rows instead of aggregating every run: all-time stats over a million
    attempts stay in milliseconds. Rows with prompt_name "*" (version 0) count each run once;
    the others count it once per prompt version it used. Runs are never updated, so the counts
    only ever grow, in the same transaction as the run itself.
    """

    __tablename__ = "run_rollups"

    hour: Mapped[datetime] = mapped_column(primary_key=True)  # start of the UTC hour
    task: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger)
    passed: Mapped[int] = mapped_column(BigInteger)
    first_pass: Mapped[int] = mapped_column(BigInteger)  # passed on round 1
    rounds_sum: Mapped[int] = mapped_column(BigInteger)


class Attempt(Base):
    """One answer the model produced within a run (round 1 is the first attempt)."""

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("run_id", "round"),
        Index(None, "prompt_name", "prompt_version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(Text)
    prompt_name: Mapped[str | None] = mapped_column(String(64))
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    latency_s: Mapped[float | None] = mapped_column(Float)
    # The task oracle's truth where there is one: what the refiner trains the critic against.
    oracle_correct: Mapped[bool | None] = mapped_column()

    run: Mapped[Run] = relationship(back_populates="attempts")
    critiques: Mapped[list[CritiqueRow]] = relationship(
        back_populates="attempt", order_by="CritiqueRow.id", cascade="all, delete-orphan"
    )


class CritiqueRow(Base):
    """One critic's judgement of one attempt."""

    __tablename__ = "critiques"
    __table_args__ = (CheckConstraint(_in("verdict", Verdict), name="verdict"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), index=True
    )
    critic: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))
    score: Mapped[float | None] = mapped_column(Float)
    feedback: Mapped[str] = mapped_column(Text, default="")

    attempt: Mapped[Attempt] = relationship(back_populates="critiques")


class Label(Base):
    """Human or oracle feedback on a run's final answer."""

    __tablename__ = "labels"
    __table_args__ = (CheckConstraint(_in("source", LabelSource), name="source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    correct: Mapped[bool] = mapped_column()
    answer: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    author: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    run: Mapped[Run] = relationship(back_populates="labels")


class PromptVersion(Base):
    """One version of a named soft prompt: its file, lineage, metrics and lifecycle status."""

    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint(_in("kind", PromptKind), name="kind"),
        CheckConstraint(_in("status", PromptStatus), name="status"),
        # At most one active version per name, enforced by the database itself.
        Index(
            "uq_prompt_versions_one_active",
            "name",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    parent: Mapped[int | None] = mapped_column(Integer)  # the version it was warm-started from
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))  # of the weights file
    # Of the manifest (template, fingerprint, recorded metrics). None: registered before
    # manifests were checksummed (revision 0002).
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    n_examples: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=PromptStatus.candidate.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class RefineJob(Base):
    """One refinement of one prompt, and the lease that keeps other refiners off it."""

    __tablename__ = "refine_jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JobStatus), name="status"),
        # The lease itself: at most one running job per prompt, on both databases.
        Index(
            "uq_refine_jobs_one_running",
            "prompt_name",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        Index(None, "prompt_name", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    prompt_name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(128))
    lease_until: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.running.value)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
