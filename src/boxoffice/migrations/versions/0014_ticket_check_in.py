"""ticket check-in: when a ticket was admitted at the door, and by whom

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("checked_in_by", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_tickets_checked_in_by_users"), "tickets", "users", ["checked_in_by"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_tickets_checked_in_by_users"), "tickets", type_="foreignkey")
    op.drop_column("tickets", "checked_in_by")
    op.drop_column("tickets", "checked_in_at")
