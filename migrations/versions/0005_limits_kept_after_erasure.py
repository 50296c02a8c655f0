"""Deletion records keep the lockout and the 24-hour counters of the user they replace.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deletion_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("otp_window_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "otp_requests_in_window", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("failure_window_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "failures_in_window", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("deletion_record", schema=None) as batch_op:
        batch_op.drop_column("failures_in_window")
        batch_op.drop_column("failure_window_started_at")
        batch_op.drop_column("otp_requests_in_window")
        batch_op.drop_column("otp_window_started_at")
        batch_op.drop_column("locked_until")
