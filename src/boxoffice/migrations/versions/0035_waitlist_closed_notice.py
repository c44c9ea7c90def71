"""notification kind waitlist_closed: tell the waiting when a showtime's sales end

Revision ID: 0035
Revises: 0034
"""

from collections.abc import Sequence

from alembic import op

# The notification kinds as of 0021 (a migration keeps its own copy: it must not change).
KINDS = (
    "booking_confirmed",
    "booking_cancelled",
    "booking_expired",
    "payment_failed",
    "refund_issued",
    "event_cancelled",
    "showtime_changed",
    "sale_started",
    "new_event",
    "waitlist_offer",
    "announcement",
    "showtime_reminder",
    "waitlist_offer_expired",
    "ticket_received",
    "ticket_voided",
    "showtime_cancelled",
    "tickets_requested",
)
NEW_KINDS = ("waitlist_closed",)
CHECK = "ck_notifications_notificationkind"

revision: str = "0035"
down_revision: str | Sequence[str] | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _kind_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f(CHECK), "notifications", type_="check")
    listed = ", ".join(f"'{k}'" for k in kinds)
    op.create_check_constraint(op.f(CHECK), "notifications", f"kind IN ({listed})")


def upgrade() -> None:
    _kind_check((*KINDS, *NEW_KINDS))


def downgrade() -> None:
    listed = ", ".join(f"'{k}'" for k in NEW_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN ({listed})")  # noqa: S608 (constants)
    _kind_check(KINDS)
