"""The audit log: who did what to whom, for the actions of staff and on money."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base, UUIDPk


class AuditAction(enum.StrEnum):
    """What was done. Stored as text without a CHECK: a new action needs no migration."""

    booking_comped = "booking.comped"
    booking_cancelled = "booking.cancelled"
    payment_refunded = "payment.refunded"
    user_updated = "user.updated"
    user_role_changed = "user.role_changed"
    user_deactivated = "user.deactivated"
    user_reactivated = "user.reactivated"
    user_deleted = "user.deleted"
    editor_granted = "user.editor_granted"
    editor_revoked = "user.editor_revoked"
    event_published = "event.published"
    event_updated = "event.updated"
    event_cancelled = "event.cancelled"
    event_deleted = "event.deleted"
    showtime_added = "showtime.added"
    showtime_rescheduled = "showtime.rescheduled"
    showtime_cancelled = "showtime.cancelled"
    price_tier_changed = "price_tier.changed"
    seats_blocked = "seats.blocked"
    seats_unblocked = "seats.unblocked"
    check_in_undone = "check_in.undone"
    announcement_pushed = "announcement.pushed"
    review_edited = "review.edited"
    review_deleted = "review.deleted"
    webhook_created = "webhook.created"
    webhook_deleted = "webhook.deleted"
    webhook_updated = "webhook.updated"
    webhook_secret_rotated = "webhook.secret_rotated"  # noqa: S105 (an action name)
    coupon_created = "coupon.created"
    coupon_updated = "coupon.updated"
    venue_updated = "venue.updated"
    venue_section_added = "venue.section_added"


class AuditEntry(Base):
    """One action, written in the transaction that did it: kept if and only if it happened.

    Holds ids, roles, states and amounts, never a person's name or address: an entry
    outlives the accounts it names (a deleted account is scrubbed and its row kept, so the
    ids still resolve, to no personal data)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_target_type_target_id_seq", "target_type", "target_id", "seq"),
        Index("ix_audit_log_actor_id_seq", "actor_id", "seq"),
        Index("ix_audit_log_organizer_id_seq", "organizer_id", "seq"),
    )

    id: Mapped[UUIDPk]
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True, nullable=False)
    """The order entries were written in (the log is read newest first by it)."""
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("clock_timestamp()"), nullable=False
    )
    """When it was written: the wall clock, not the transaction's start (`now()`)."""
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_role: Mapped[str] = mapped_column(String(20), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str] = mapped_column(String(32), nullable=False)
    target_id: Mapped[str] = mapped_column(String(64), nullable=False)
    organizer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    """The organizer whose event (venue, coupon) it concerns: who else may read it."""
    event_id: Mapped[uuid.UUID | None] = mapped_column()
    """The event it concerns, kept as a plain id: an entry outlives a deleted event."""
    request_id: Mapped[str | None] = mapped_column(String(128))
    """The `X-Request-ID` of the request that did it, as in the access log."""
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
