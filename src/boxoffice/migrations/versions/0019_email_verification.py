"""e-mail verification: when an account's address was shown to be its own

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True)))
    # Accounts linked to Google arrived with an address Google had verified.
    op.execute(
        "UPDATE users SET email_verified_at = i.created_at FROM user_identities i"
        " WHERE i.user_id = users.id AND lower(i.email) = lower(users.email)"
    )


def downgrade() -> None:
    op.drop_column("users", "email_verified_at")
