"""Prompt versions record their manifest's checksum beside the weights'.

The manifest holds the template, the base-model fingerprint and the recorded metrics (the
critique prompt's accuracy decides whether it joins the critic), so an edit to it must be as
visible as an edit to the weights. Rows registered before this revision keep NULL: their
manifests cannot be vouched for after the fact.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_versions") as batch:
        batch.add_column(sa.Column("manifest_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompt_versions") as batch:
        batch.drop_column("manifest_sha256")
