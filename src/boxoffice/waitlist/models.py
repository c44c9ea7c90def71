"""Waitlist entries: buyers waiting for units of a sold-out showtime."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, false, text
from sqlalchemy.orm import Mapped, mapped_column

import boxoffice.auth.models
import boxoffice.booking.models
import boxoffice.catalog.models  # noqa: F401
from boxoffice.db.base import Base, TimestampMixin, UUIDPk, str_enum


class EntryStatus(enum.StrEnum):
    waiting = "waiting"
    offered = "offered"
    """Units are held for the buyer until `offer_expires_at` (hold `hold_id`)."""
    accepted = "accepted"
    """The buyer booked the offered hold."""
    expired = "expired"
    """The offer lapsed unaccepted; the units went to the next entry."""
    left = "left"
    cancelled = "cancelled"
    """The showtime was cancelled while the entry was open (an offer's hold released)."""
    closed = "closed"
    """Sales ended (the showtime started, or its event's sale closed) with nothing offered."""


OPEN = (EntryStatus.waiting, EntryStatus.offered)


class WaitlistEntry(TimestampMixin, Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index(
            "uq_waitlist_entries_user_showtime_open",
            "user_id",
            "showtime_id",
            unique=True,
            postgresql_where=text("status IN ('waiting', 'offered')"),
        ),
        Index(
            "ix_waitlist_entries_showtime_waiting",
            "showtime_id",
            "created_at",
            postgresql_where=text("status = 'waiting'"),
        ),
        Index(
            "ix_waitlist_entries_offer_expires_at",
            "offer_expires_at",
            postgresql_where=text("status = 'offered'"),
        ),
    )

    id: Mapped[UUIDPk]
    showtime_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("showtimes.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    accessible: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    """Waiting for wheelchair places (seats flagged accessible) only; offered nothing else."""
    status: Mapped[EntryStatus] = mapped_column(
        str_enum(EntryStatus), nullable=False, default=EntryStatus.waiting
    )
    hold_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("holds.id", ondelete="SET NULL"), nullable=True
    )
    offered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offer_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offers_made: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
