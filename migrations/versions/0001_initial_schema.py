"""Initial schema: users, verifications, consents, KYC results, flow events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:20:53.281684
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "flow_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("verification_id", sa.Integer(), nullable=True),
        sa.Column("from_state", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=48), nullable=False),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=48), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flow_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flow_event_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_flow_event_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flow_event_verification_id"), ["verification_id"], unique=False
        )

    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("otp_window_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "otp_requests_in_window", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("failure_window_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures_in_window", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "external_id", name="uq_user_channel_external"),
    )
    op.create_table(
        "verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("aadhaar_masked", sa.String(length=14), nullable=True),
        sa.Column("aadhaar_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("otp_reference", sa.String(length=128), nullable=True),
        sa.Column("otp_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("otp_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resend_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idle_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("call_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("otp_sends", sa.Integer(), nullable=False),
        sa.Column("otp_attempts_left", sa.Integer(), nullable=False),
        sa.Column("invalid_entries", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verification_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_verification_live_user",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("verification_id", sa.Integer(), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("notice_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["verification_id"], ["verification.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_consent_verification_id"), ["verification_id"], unique=False
        )

    op.create_table(
        "kyc_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("verification_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("aadhaar_masked", sa.String(length=14), nullable=False),
        sa.Column("aadhaar_hmac", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("date_of_birth", sa.String(length=10), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["verification_id"], ["verification.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("verification_id"),
    )
    with op.batch_alter_table("kyc_result", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kyc_result_aadhaar_hmac"), ["aadhaar_hmac"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_kyc_result_user_id"), ["user_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("kyc_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kyc_result_user_id"))
        batch_op.drop_index(batch_op.f("ix_kyc_result_aadhaar_hmac"))

    op.drop_table("kyc_result")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_verification_id"))
        batch_op.drop_index(batch_op.f("ix_consent_user_id"))

    op.drop_table("consent")
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_verification_live_user",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_verification_user_id"))
        batch_op.drop_index(batch_op.f("ix_verification_due_at"))

    op.drop_table("verification")
    op.drop_table("user")
    with op.batch_alter_table("flow_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_event_verification_id"))
        batch_op.drop_index(batch_op.f("ix_flow_event_user_id"))
        batch_op.drop_index(batch_op.f("ix_flow_event_occurred_at"))

    op.drop_table("flow_event")
