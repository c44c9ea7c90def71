"""events.accessible_release_hours: when unsold accessible seats join best available

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("accessible_release_hours", sa.Integer()))


def downgrade() -> None:
    op.drop_column("events", "accessible_release_hours")
