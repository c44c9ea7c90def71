"""presales: an event's presale opening and its access codes

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events", sa.Column("presale_starts_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "events",
        sa.Column(
            "presale_codes",
            postgresql.ARRAY(sa.String(length=40)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("events", "presale_codes")
    op.drop_column("events", "presale_starts_at")
