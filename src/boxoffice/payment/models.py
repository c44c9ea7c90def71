"""Payments, refunds and the provider webhook events that drive them."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

# The table payments reference, so the foreign key resolves whatever imported this first.
import boxoffice.booking.models  # noqa: F401
from boxoffice.db.base import Base, TimestampMixin, UUIDPk, str_enum


class PaymentStatus(enum.StrEnum):
    initiated = "initiated"
    requires_action = "requires_action"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class RefundStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class Payment(TimestampMixin, Base):
    """One attempt to collect the amount due for a booking; never deleted."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund_within_amount"
        ),
    )

    id: Mapped[UUIDPk]
    booking_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bookings.id"), index=True, nullable=False
    )
    """The booking paid for."""
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True, nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    provider_ref: Mapped[str] = mapped_column(String(255), nullable=False)
    """Stripe PaymentIntent id, Razorpay order id, or the sandbox's payment id."""
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[PaymentStatus] = mapped_column(
        str_enum(PaymentStatus, 20), nullable=False, default=PaymentStatus.initiated
    )
    refunded_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    provider_event_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    """Ids of the provider events that changed this payment, in the order applied."""
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)
    """Reconciliation data: provider payment ids, status history, the client secret's owner."""
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Refund(TimestampMixin, Base):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[UUIDPk]
    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id"), index=True, nullable=False
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[RefundStatus] = mapped_column(
        str_enum(RefundStatus, 20), nullable=False, default=RefundStatus.pending
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    provider_ref: Mapped[str | None] = mapped_column(String(255), index=True)
    initiated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    """The admin or organizer who asked for it; null when the system refunded on its own."""
    failure_reason: Mapped[str | None] = mapped_column(Text)
    ticket_ids: Mapped[list[str] | None] = mapped_column(JSONB)
    """The booking's tickets this refund is for; null: not tied to tickets."""


class PaymentWebhookEvent(Base):
    """Every verified provider event, once: the unique key is the dedupe."""

    __tablename__ = "payment_webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "provider_event_id"),
        Index("ix_payment_webhook_events_payment_id", "payment_id"),
    )

    id: Mapped[UUIDPk]
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    provider_event_id: Mapped[str] = mapped_column(String(255), nullable=False)
    event_type: Mapped[str] = mapped_column(String(100), nullable=False)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    outcome: Mapped[str | None] = mapped_column(String(20))
    """applied, unchanged or ignored."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
