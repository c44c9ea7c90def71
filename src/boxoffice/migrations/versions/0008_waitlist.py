"""Waitlist entries: buyers queued for units of a sold-out showtime.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 05:49:36.235458
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("showtime_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "offered",
                "accepted",
                "expired",
                "left",
                name="entrystatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("hold_id", sa.UUID(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offers_made", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_waitlist_entries_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["holds.id"],
            name=op.f("fk_waitlist_entries_hold_id_holds"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["showtime_id"],
            ["showtimes.id"],
            name=op.f("fk_waitlist_entries_showtime_id_showtimes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_waitlist_entries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    op.create_index(
        "ix_waitlist_entries_offer_expires_at",
        "waitlist_entries",
        ["offer_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'offered'"),
    )
    op.create_index(
        "ix_waitlist_entries_showtime_waiting",
        "waitlist_entries",
        ["showtime_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.create_index(
        op.f("ix_waitlist_entries_user_id"), "waitlist_entries", ["user_id"], unique=False
    )
    op.create_index(
        "uq_waitlist_entries_user_showtime_open",
        "waitlist_entries",
        ["user_id", "showtime_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('waiting', 'offered')"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_waitlist_entries_user_showtime_open",
        table_name="waitlist_entries",
        postgresql_where=sa.text("status IN ('waiting', 'offered')"),
    )
    op.drop_index(op.f("ix_waitlist_entries_user_id"), table_name="waitlist_entries")
    op.drop_index(
        "ix_waitlist_entries_showtime_waiting",
        table_name="waitlist_entries",
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.drop_index(
        "ix_waitlist_entries_offer_expires_at",
        table_name="waitlist_entries",
        postgresql_where=sa.text("status = 'offered'"),
    )
    op.drop_table("waitlist_entries")
