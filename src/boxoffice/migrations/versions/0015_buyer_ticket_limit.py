"""per-buyer ticket limit: at most this many live tickets per buyer per showtime

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("max_tickets_per_buyer", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_events_max_tickets_per_buyer_positive"),
        "events",
        "max_tickets_per_buyer IS NULL OR max_tickets_per_buyer > 0",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_events_max_tickets_per_buyer_positive"), "events", type_="check")
    op.drop_column("events", "max_tickets_per_buyer")
