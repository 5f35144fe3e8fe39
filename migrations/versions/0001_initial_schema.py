"""Initial schema: runs, attempts, critiques, labels, prompt versions, refine jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit ids on PostgreSQL, the rowid alias on SQLite (which must be spelled INTEGER).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("final_output", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("prompt_versions", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('passed', 'failed', 'gave_up', 'error')", name=op.f("ck_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_runs_idempotency_key")),
    )
    # status and rounds ride along so time-window history and stats are index-only scans.
    op.create_index(
        op.f("ix_runs_task_created_at_status_rounds"),
        "runs",
        ["task", "created_at", "status", "rounds"],
    )
    op.create_index(
        op.f("ix_runs_created_at_status_rounds"), "runs", ["created_at", "status", "rounds"]
    )
    op.create_index(op.f("ix_runs_status_created_at"), "runs", ["status", "created_at"])

    op.create_table(
        "run_prompt_versions",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_prompt_versions_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_run_prompt_versions")),
    )
    op.create_index(
        op.f("ix_run_prompt_versions_name_version_created_at"),
        "run_prompt_versions",
        ["name", "version", "created_at"],
    )

    # Per-hour counts that stats read instead of scanning every run (see RunRollup).
    op.create_table(
        "run_rollups",
        sa.Column("hour", Timestamp, nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("prompt_name", sa.String(length=64), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("passed", sa.BigInteger(), nullable=False),
        sa.Column("first_pass", sa.BigInteger(), nullable=False),
        sa.Column("rounds_sum", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "task", "prompt_name", "prompt_version", name=op.f("pk_run_rollups")
        ),
    )

    op.create_table(
        "attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("prompt_name", sa.String(length=64), nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("oracle_correct", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_attempts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("run_id", "round", name=op.f("uq_attempts_run_id_round")),
    )
    op.create_index(
        op.f("ix_attempts_prompt_name_prompt_version"),
        "attempts",
        ["prompt_name", "prompt_version"],
    )

    op.create_table(
        "critiques",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("attempt_id", BigId, nullable=False),
        sa.Column("critic", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.CheckConstraint("verdict IN ('pass', 'fail')", name=op.f("ck_critiques_verdict")),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempts.id"],
            name=op.f("fk_critiques_attempt_id_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_critiques")),
    )
    op.create_index(op.f("ix_critiques_attempt_id"), "critiques", ["attempt_id"])

    op.create_table(
        "labels",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("source IN ('human', 'oracle')", name=op.f("ck_labels_source")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_labels_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
    )
    op.create_index(op.f("ix_labels_created_at"), "labels", ["created_at"])
    op.create_index(op.f("ix_labels_run_id"), "labels", ["run_id"])

    op.create_table(
        "prompt_versions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("n_examples", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("promoted_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "kind IN ('task', 'critique', 'revise')", name=op.f("ck_prompt_versions_kind")
        ),
        sa.CheckConstraint(
            "status IN ('candidate', 'active', 'rejected', 'retired')",
            name=op.f("ck_prompt_versions_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_prompt_versions_name_version")),
    )
    # At most one active version per prompt name.
    op.create_index(
        op.f("uq_prompt_versions_one_active"),
        "prompt_versions",
        ["name"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )

    op.create_table(
        "refine_jobs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("prompt_name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("lease_until", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'abandoned', 'expired')",
            name=op.f("ck_refine_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refine_jobs")),
    )
    op.create_index(
        op.f("ix_refine_jobs_prompt_name_started_at"), "refine_jobs", ["prompt_name", "started_at"]
    )
    # The lease: at most one running job per prompt.
    op.create_index(
        op.f("uq_refine_jobs_one_running"),
        "refine_jobs",
        ["prompt_name"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes with it.
    for table in (
        "refine_jobs",
        "prompt_versions",
        "labels",
        "critiques",
        "attempts",
        "run_rollups",
        "run_prompt_versions",
        "runs",
    ):
        op.drop_table(table)
