"""DigiLocker: the link on the verification, sign-in sessions, and results without a number.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:40:00
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
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digilocker_url", sa.String(length=1024), nullable=True))
        batch_op.add_column(
            sa.Column("digilocker_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("kyc_result", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "method",
                sa.String(length=16),
                server_default=sa.text("'aadhaar_otp'"),
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("reference_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("reference_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("aadhaar_masked", existing_type=sa.String(length=14), nullable=True)
        batch_op.alter_column("aadhaar_hmac", existing_type=sa.String(length=64), nullable=True)
    op.create_table(
        "digilocker_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("verification_id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("verifier_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["verification_id"], ["verification.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )
    with op.batch_alter_table("digilocker_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_digilocker_session_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_digilocker_session_verification_id"), ["verification_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("digilocker_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digilocker_session_verification_id"))
        batch_op.drop_index(batch_op.f("ix_digilocker_session_user_id"))
    op.drop_table("digilocker_session")
    # DigiLocker results have no number: they cannot survive in the older schema.
    op.execute("DELETE FROM kyc_result WHERE aadhaar_hmac IS NULL")
    with op.batch_alter_table("kyc_result", schema=None) as batch_op:
        batch_op.alter_column("aadhaar_hmac", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("aadhaar_masked", existing_type=sa.String(length=14), nullable=False)
        batch_op.drop_column("reference_expires_at")
        batch_op.drop_column("reference_sealed")
        batch_op.drop_column("method")
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.drop_column("digilocker_expires_at")
        batch_op.drop_column("digilocker_url")
