"""waitlist entry status cancelled: the showtime waited for was cancelled

Revision ID: 0032
Revises: 0031
"""

from collections.abc import Sequence

from alembic import op

# The entry statuses as of 0008 (a migration keeps its own copy: it must not change).
STATUSES = ("waiting", "offered", "accepted", "expired", "left")
NEW_STATUSES = ("cancelled",)
CHECK = "ck_waitlist_entries_entrystatus"

revision: str = "0032"
down_revision: str | Sequence[str] | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _status_check(statuses: tuple[str, ...]) -> None:
    op.drop_constraint(op.f(CHECK), "waitlist_entries", type_="check")
    listed = ", ".join(f"'{s}'" for s in statuses)
    op.create_check_constraint(op.f(CHECK), "waitlist_entries", f"status IN ({listed})")


def upgrade() -> None:
    _status_check((*STATUSES, *NEW_STATUSES))


def downgrade() -> None:
    # A cancelled showtime's entries read as left: closed, by no fault of the offer's.
    op.execute("UPDATE waitlist_entries SET status = 'left' WHERE status = 'cancelled'")
    _status_check(STATUSES)
