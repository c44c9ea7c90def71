"""data set loads: the demo data set's own record of having been loaded

Before, the demo counted as loaded while its admin's e-mail address existed; an admin who
changed that address (or deleted the account) made the next `serve --demo` load it again
and fail on the other demo users' addresses, so the server did not start.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_set_loads",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_set_loads")),
    )
    # A database that has any of the demo users loaded the demo before this table existed.
    op.execute(
        "INSERT INTO data_set_loads (name) SELECT 'demo' WHERE EXISTS (SELECT 1 FROM users"
        " WHERE email IN ('buyer@example.com', 'organizer@example.com', 'admin@example.com'))"
    )


def downgrade() -> None:
    op.drop_table("data_set_loads")
