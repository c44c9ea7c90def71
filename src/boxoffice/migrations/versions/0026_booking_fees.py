"""booking fees per event: a percentage, an amount per ticket and one per order

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events", sa.Column("fee_percent_bp", sa.Integer(), server_default="0", nullable=False)
    )
    for column in ("fee_per_ticket_minor", "fee_per_order_minor"):
        op.add_column(
            "events", sa.Column(column, sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_check_constraint(
        op.f("ck_events_booking_fees_valid"),
        "events",
        "fee_percent_bp BETWEEN 0 AND 10000 AND fee_per_ticket_minor >= 0"
        " AND fee_per_order_minor >= 0",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_events_booking_fees_valid"), "events", type_="check")
    for column in ("fee_percent_bp", "fee_per_ticket_minor", "fee_per_order_minor"):
        op.drop_column("events", column)
