"""showtime reminders: one row per showtime whose ticket holders were reminded

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
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
)
CHECK = "ck_notifications_notificationkind"


def _kind_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f(CHECK), "notifications", type_="check")
    listed = ", ".join(f"'{k}'" for k in kinds)
    op.create_check_constraint(op.f(CHECK), "notifications", f"kind IN ({listed})")


def upgrade() -> None:
    _kind_check((*KINDS, "showtime_reminder"))
    op.create_table(
        "showtime_reminders",
        sa.Column("showtime_id", sa.UUID(), nullable=False),
        sa.Column(
            "reminded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["showtime_id"],
            ["showtimes.id"],
            name=op.f("fk_showtime_reminders_showtime_id_showtimes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("showtime_id", name=op.f("pk_showtime_reminders")),
    )


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'showtime_reminder'")
    _kind_check(KINDS)
    op.drop_table("showtime_reminders")
