"""waitlist entry status closed: sales ended while the entry waited

Revision ID: 0034
Revises: 0033
"""

from collections.abc import Sequence

from alembic import op

# The entry statuses as of 0032 (a migration keeps its own copy: it must not change).
STATUSES = ("waiting", "offered", "accepted", "expired", "left", "cancelled")
NEW_STATUSES = ("closed",)
CHECK = "ck_waitlist_entries_entrystatus"

revision: str = "0034"
down_revision: str | Sequence[str] | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _status_check(statuses: tuple[str, ...]) -> None:
    op.drop_constraint(op.f(CHECK), "waitlist_entries", type_="check")
    listed = ", ".join(f"'{s}'" for s in statuses)
    op.create_check_constraint(op.f(CHECK), "waitlist_entries", f"status IN ({listed})")


def upgrade() -> None:
    _status_check((*STATUSES, *NEW_STATUSES))


def downgrade() -> None:
    # A closed entry reads as left: it waits for nothing any more.
    op.execute("UPDATE waitlist_entries SET status = 'left' WHERE status = 'closed'")
    _status_check(STATUSES)
