"""Tables of the notification domain: in-app notifications, preferences, follows, interest,
sale-start announcements, and organizers' outgoing webhooks with their delivery log."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base, UUIDPk, str_enum


class NotificationKind(enum.StrEnum):
    booking_confirmed = "booking_confirmed"
    booking_cancelled = "booking_cancelled"
    booking_expired = "booking_expired"
    payment_failed = "payment_failed"
    refund_issued = "refund_issued"
    event_cancelled = "event_cancelled"
    showtime_changed = "showtime_changed"
    sale_started = "sale_started"
    new_event = "new_event"
    """A followed organizer published an event."""
    waitlist_offer = "waitlist_offer"
    waitlist_offer_expired = "waitlist_offer_expired"
    """An offer lapsed unbooked; its seats went to the next buyer waiting."""
    announcement = "announcement"
    """Pushed by an admin."""
    showtime_reminder = "showtime_reminder"
    """Ticket holders, some hours before their showtime starts."""
    ticket_received = "ticket_received"
    """Another account passed the user a ticket."""
    ticket_voided = "ticket_voided"
    """A ticket given to the user was cancelled or refunded to its buyer."""
    showtime_cancelled = "showtime_cancelled"
    """One performance the user holds tickets for was cancelled (the event goes on)."""
    tickets_requested = "tickets_requested"
    """The user asked for their tickets of a showtime by e-mail (again)."""
    waitlist_closed = "waitlist_closed"
    """Sales ended with the user still waiting (or with an offer of theirs unbooked)."""


class Channel(enum.StrEnum):
    in_app = "in_app"
    email = "email"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # A redelivered domain event must not notify twice.
        UniqueConstraint("user_id", "source_event_id", "kind"),
        Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
        Index(
            "ix_notifications_unread",
            "user_id",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    source_event_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    """Id of the outbox event that caused it (consumers deduplicate on it)."""
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class NotificationPreference(Base):
    """A user's choices, kind -> channel -> on/off; kinds not named use the defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    channels: Mapped[dict[str, dict[str, bool]]] = mapped_column(
        JSONB, nullable=False, default=dict
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class OrganizerFollow(Base):
    __tablename__ = "organizer_follows"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    organizer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class EventInterest(Base):
    __tablename__ = "event_interests"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class SaleAnnouncement(Base):
    """One row per event whose sale start was announced: the primary key makes it once."""

    __tablename__ = "sale_announcements"

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    announced_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[UUIDPk]
    organizer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    """The secret before the last rotation: deliveries carry its signature as well until
    `previous_secret_expires_at`, so a receiver can switch secrets without missing one."""
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    topics: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    """Topics delivered; empty means every topic."""
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    consecutive_gone: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    """410 answers in a row; the endpoint is disabled when it reaches the configured limit."""
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class WebhookDeliveryStatus(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[UUIDPk]
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    """Exact JSON sent (and signed), identical on every attempt."""
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        str_enum(WebhookDeliveryStatus), nullable=False, default=WebhookDeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class ShowtimeReminder(Base):
    """One row per showtime whose holders were reminded: the primary key makes it once."""

    __tablename__ = "showtime_reminders"

    showtime_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("showtimes.id", ondelete="CASCADE"), primary_key=True
    )
    reminded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
