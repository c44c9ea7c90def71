"""Domain events, written to the outbox in the same transaction as the change they describe.

Delivery (in-app notifications, e-mail, webhooks, a message broker) happens after commit, in
the worker, at least once; each event's `id` lets consumers deduplicate.
"""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base, UUIDPk


class Topic(enum.StrEnum):
    booking_confirmed = "booking.confirmed"
    booking_cancelled = "booking.cancelled"
    booking_expired = "booking.expired"
    payment_failed = "payment.failed"
    refund_issued = "refund.issued"
    event_published = "event.published"
    event_cancelled = "event.cancelled"
    showtime_changed = "showtime.changed"
    showtime_cancelled = "showtime.cancelled"
    sale_started = "sale.started"
    notification_pushed = "notification.pushed"
    waitlist_offer_made = "waitlist.offer_made"
    waitlist_offer_expired = "waitlist.offer_expired"
    waitlist_closed = "waitlist.closed"
    units_released = "inventory.units_released"
    showtime_reminder = "showtime.reminder"
    ticket_checked_in = "ticket.checked_in"
    ticket_check_in_undone = "ticket.check_in_undone"
    ticket_transferred = "ticket.transferred"
    ticket_voided = "ticket.voided"
    price_tier_changed = "price_tier.changed"
    tickets_requested = "tickets.requested"


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_pending",
            "created_at",
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[UUIDPk]
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    aggregate_id: Mapped[str] = mapped_column(String(64), nullable=False)
    """Id of the thing the event is about (booking, event, showtime, ...)."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """After a failed delivery, not before this time (exponential backoff); NULL: at once."""


_PRUNE_DELIVERED = text(
    """
    DELETE FROM outbox_events WHERE id IN (
        SELECT id FROM outbox_events
         WHERE delivered_at < now() - make_interval(days => :days)
         LIMIT :batch)
    """
)


async def prune_delivered(
    session: AsyncSession, retention_days: int, *, batch: int = 50_000
) -> int:
    """Delete events delivered more than `retention_days` ago (0: none), at most `batch`
    of them; undelivered ones stay whatever their age. How many went."""
    if retention_days <= 0:
        return 0
    result = await session.execute(_PRUNE_DELIVERED, {"days": retention_days, "batch": batch})
    return int(getattr(result, "rowcount", 0))


async def emit(
    session: AsyncSession, topic: Topic, aggregate_id: uuid.UUID | str, payload: dict[str, Any]
) -> OutboxEvent:
    """Record a domain event in the current transaction (delivered after commit)."""
    event = OutboxEvent(topic=topic.value, aggregate_id=str(aggregate_id), payload=payload)
    session.add(event)
    await session.flush()
    return event
