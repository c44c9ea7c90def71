"""payment-booking links: payments reference bookings; bookings get payment metadata

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column, default in (
        ("refund_cutoff_hours", "24"),
        ("refund_fee_percent_bp", "0"),
        ("refund_fee_fixed_minor", "0"),
    ):
        op.add_column(
            "events", sa.Column(column, sa.Integer(), server_default=default, nullable=False)
        )
    op.add_column(
        "bookings",
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "refunds", sa.Column("ticket_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_payments_booking_id_bookings"), "payments", "bookings", ["booking_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_coupon_redemptions_booking_id_bookings"),
        "coupon_redemptions",
        "bookings",
        ["booking_id"],
        ["id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_coupon_redemptions_booking_id_bookings"), "coupon_redemptions", type_="foreignkey"
    )
    op.drop_constraint(op.f("fk_payments_booking_id_bookings"), "payments", type_="foreignkey")
    op.drop_column("refunds", "ticket_ids")
    op.drop_column("bookings", "metadata")
    for column in ("refund_cutoff_hours", "refund_fee_percent_bp", "refund_fee_fixed_minor"):
        op.drop_column("events", column)
