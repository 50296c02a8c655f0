"""Erasure records, and the language a user chose.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 20:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language_chosen_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "deletion_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_hmac", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deletion_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deletion_record_user_hmac"), ["user_hmac"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deletion_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deletion_record_user_hmac"))
    op.drop_table("deletion_record")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("language_chosen_at")
