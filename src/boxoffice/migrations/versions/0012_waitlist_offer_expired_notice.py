"""notification kind waitlist_offer_expired: tell a buyer their waitlist offer lapsed

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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
)
CHECK = "ck_notifications_notificationkind"


def _kind_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f(CHECK), "notifications", type_="check")
    listed = ", ".join(f"'{k}'" for k in kinds)
    op.create_check_constraint(op.f(CHECK), "notifications", f"kind IN ({listed})")


def upgrade() -> None:
    _kind_check((*KINDS, "waitlist_offer_expired"))


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'waitlist_offer_expired'")
    _kind_check(KINDS)
