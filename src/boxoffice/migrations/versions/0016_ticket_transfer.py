"""ticket transfer: who holds a ticket, the version its code is signed at, whether an
event allows transfers; notification kinds ticket_received, ticket_voided and
showtime_cancelled

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# The notification kinds as of 0012 (a migration keeps its own copy: it must not change).
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
)
NEW_KINDS = ("ticket_received", "ticket_voided", "showtime_cancelled")
CHECK = "ck_notifications_notificationkind"


def _kind_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f(CHECK), "notifications", type_="check")
    listed = ", ".join(f"'{k}'" for k in kinds)
    op.create_check_constraint(op.f(CHECK), "notifications", f"kind IN ({listed})")


revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _kind_check((*KINDS, *NEW_KINDS))
    op.add_column("tickets", sa.Column("holder_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_tickets_holder_id_users"), "tickets", "users", ["holder_id"], ["id"]
    )
    op.create_index(op.f("ix_tickets_holder_id"), "tickets", ["holder_id"], unique=False)
    op.add_column(
        "tickets",
        sa.Column("code_version", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "events",
        sa.Column(
            "allow_ticket_transfers",
            sa.Boolean(),
            nullable=False,
            server_default=sa.text("true"),
        ),
    )


def downgrade() -> None:
    listed = ", ".join(f"'{k}'" for k in NEW_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN ({listed})")  # noqa: S608 (constants)
    _kind_check(KINDS)
    op.drop_column("events", "allow_ticket_transfers")
    op.drop_column("tickets", "code_version")
    op.drop_index(op.f("ix_tickets_holder_id"), table_name="tickets")
    op.drop_constraint(op.f("fk_tickets_holder_id_users"), "tickets", type_="foreignkey")
    op.drop_column("tickets", "holder_id")
