"""Indexes under the foreign keys to seats and sections

Replacing a venue's layout deletes its sections, and with them their seats; PostgreSQL then
checks, for every deleted row, that no inventory unit or ticket still refers to it. Without
an index on the referring column each check reads the whole table: a 168,000-seat layout
replaced on a database of 24,000 units ran past the 15 s statement timeout; 2.5 s with
them. A claim's update is not HOT (it changes the indexed state), so it writes an entry to
these too; measured, the direct ceiling was the same: 525-566 holds/s with them, 524-530
without.

Revision ID: 0031
Revises: 0030
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = [
    ("ix_inventory_units_seat_id", "inventory_units", "seat_id", "seat_id IS NOT NULL"),
    ("ix_inventory_units_section_id", "inventory_units", "section_id", None),
    ("ix_tickets_seat_id", "tickets", "seat_id", "seat_id IS NOT NULL"),
    ("ix_tickets_section_id", "tickets", "section_id", None),
]


def upgrade() -> None:
    for name, table, column, where in _INDEXES:
        op.create_index(name, table, [column], postgresql_where=sa.text(where) if where else None)


def downgrade() -> None:
    for name, table, _, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
