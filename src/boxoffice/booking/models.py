import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

# The tables these reference, so their foreign keys resolve whatever imported this first.
import boxoffice.auth.models
import boxoffice.catalog.models
import boxoffice.inventory.models
import boxoffice.venue.models  # noqa: F401
from boxoffice.db.base import Base, TimestampMixin, UUIDPk, str_enum


class HoldStatus(enum.StrEnum):
    active = "active"
    released = "released"
    expired = "expired"
    converted = "converted"


class Hold(Base):
    """A buyer's short claim on units of one showtime; its units carry the same expiry.

    An `active` hold past `expires_at` is expired already (lazy expiry): its units are
    claimable by anyone; the sweeper only records the status change.
    """

    __tablename__ = "holds"
    __table_args__ = (
        Index(
            "ix_holds_active_expires_at", "expires_at", postgresql_where=text("status = 'active'")
        ),
        Index(
            "ix_holds_user_id_showtime_id_active",
            "user_id",
            "showtime_id",
            postgresql_where=text("status = 'active'"),
        ),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[UUIDPk]
    showtime_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("showtimes.id", ondelete="CASCADE"), index=True, nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    status: Mapped[HoldStatus] = mapped_column(
        str_enum(HoldStatus, 16), nullable=False, default=HoldStatus.active
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    max_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    """Hard cap for extensions."""
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BookingStatus(enum.StrEnum):
    pending_payment = "pending_payment"
    confirmed = "confirmed"
    cancelled = "cancelled"
    refunded = "refunded"
    expired = "expired"


class Booking(TimestampMixin, Base):
    """Units moved out of a hold, priced, waiting for payment or confirmed.

    `version` is bumped by every state change; confirm and cancel compare-and-set it.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index(
            "ix_bookings_pending_expires_at",
            "expires_at",
            postgresql_where=text("status = 'pending_payment'"),
        ),
        CheckConstraint("total_minor >= 0", name="total_non_negative"),
    )

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True, nullable=False)
    showtime_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("showtimes.id", ondelete="CASCADE"), index=True, nullable=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True, nullable=False
    )
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id"), nullable=False)
    status: Mapped[BookingStatus] = mapped_column(
        str_enum(BookingStatus, 20), nullable=False, default=BookingStatus.pending_payment
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    """End of the payment window; a pending booking past it is expired."""
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    complimentary: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    """Payment history: which payment confirmed it, late payments accepted or refunded."""


class TicketStatus(enum.StrEnum):
    pending = "pending"
    issued = "issued"
    void = "void"


class Ticket(Base):
    """One per unit of a booking; `issued` on confirm, with a signed code for check-in.

    The code is not stored: it is computed from the ticket secret (`tickets.ticket_code`),
    so whoever reads the database (a backup, a replica, a reporting login) cannot admit
    themselves with it."""

    __tablename__ = "tickets"
    __table_args__ = (
        # Last line of defence: one unit never has two live tickets.
        Index(
            "uq_tickets_unit_id_issued",
            "unit_id",
            unique=True,
            postgresql_where=text("status = 'issued'"),
        ),
        # For the foreign keys to the layout (see inventory_units; migration 0031).
        Index("ix_tickets_seat_id", "seat_id", postgresql_where=text("seat_id IS NOT NULL")),
        Index("ix_tickets_section_id", "section_id"),
    )

    id: Mapped[UUIDPk]
    booking_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True, nullable=False
    )
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("inventory_units.id", ondelete="CASCADE"), index=True, nullable=False
    )
    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sections.id"), nullable=False)
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("seats.id"))
    label: Mapped[str] = mapped_column(String(64), nullable=False)
    """Human seat label: `Stalls A-12`, or `Floor` for general admission."""
    price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[TicketStatus] = mapped_column(
        str_enum(TicketStatus, 16), nullable=False, default=TicketStatus.pending
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the ticket was admitted at the door (once; an undo clears it)."""
    checked_in_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    holder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    """Who holds the ticket when it was transferred; None: the booking's buyer."""
    code_version: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    """Bumped by each transfer: the code is signed at this version, earlier codes are dead."""


class TransferOfferStatus(enum.StrEnum):
    open = "open"
    claimed = "claimed"
    cancelled = "cancelled"
    """By the giver, or replaced by a newer offer of the same ticket."""


class TicketTransferOffer(Base):
    """A ticket offered to an e-mail address no account has yet: the token e-mailed there
    lets whoever signs in with it claim the ticket, until the showtime starts (read from
    the showtime, which may move). Until then the ticket stays the giver's."""

    __tablename__ = "ticket_transfer_offers"
    __table_args__ = (
        # One open offer per ticket: a new one replaces it.
        Index(
            "uq_ticket_transfer_offers_ticket_id_open",
            "ticket_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[UUIDPk]
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    from_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    to_email: Mapped[str] = mapped_column(String(320), nullable=False)
    code_version: Mapped[int] = mapped_column(Integer, nullable=False)
    """The ticket's code version when offered: a claim moves it only from there."""
    status: Mapped[TransferOfferStatus] = mapped_column(
        str_enum(TransferOfferStatus, 16), nullable=False, default=TransferOfferStatus.open
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
