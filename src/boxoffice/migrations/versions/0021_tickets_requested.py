"""notification kind tickets_requested: a holder asked for their tickets by e-mail again

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

# The notification kinds as of 0016 (a migration keeps its own copy: it must not change).
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
)
NEW_KINDS = ("tickets_requested",)
CHECK = "ck_notifications_notificationkind"

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
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
