import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base, TimestampMixin, UUIDPk, str_enum


class EventType(enum.StrEnum):
    movie = "movie"
    music = "music"
    sport = "sport"
    standup = "standup"
    theatre = "theatre"
    conference = "conference"
    festival = "festival"
    family = "family"
    other = "other"


class EventStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    cancelled = "cancelled"


# Search covers title, type, the places the event plays (kept in `search_places` by the
# catalog service) and description; 'simple' config so prefixes match predictably, and
# spelling is corrected against `search_terms` before the full-text lookup.
SEARCH_VECTOR_SQL = (
    "(((setweight(to_tsvector('simple'::regconfig, (title)::text), 'A'::\"char\") || "
    "setweight(to_tsvector('simple'::regconfig, search_places), 'B'::\"char\")) || "
    "setweight(to_tsvector('simple'::regconfig, (event_type)::text), 'B'::\"char\")) || "
    "setweight(to_tsvector('simple'::regconfig, description), 'C'::\"char\"))"
)


class Event(TimestampMixin, Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_events_status_event_type", "status", "event_type"),
        CheckConstraint(
            "max_tickets_per_buyer IS NULL OR max_tickets_per_buyer > 0",
            name="max_tickets_per_buyer_positive",
        ),
        CheckConstraint(
            "fee_percent_bp BETWEEN 0 AND 10000 AND fee_per_ticket_minor >= 0"
            " AND fee_per_order_minor >= 0",
            name="booking_fees_valid",
        ),
    )

    id: Mapped[UUIDPk]
    organizer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id"), index=True, nullable=False
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    event_type: Mapped[EventType] = mapped_column(str_enum(EventType, 20), nullable=False)
    status: Mapped[EventStatus] = mapped_column(
        str_enum(EventStatus, 20), nullable=False, default=EventStatus.draft
    )
    images: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)
    sale_starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sale_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    presale_starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """A presale opens (before `sale_starts_at`): until the general sale, only buyers who
    give one of `presale_codes` may hold seats."""
    presale_codes: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), nullable=False, default=list, server_default=text("'{}'")
    )
    """Access codes of the presale, upper-cased (codes are matched ignoring case)."""
    hold_ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=600)
    max_tickets_per_booking: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    max_tickets_per_buyer: Mapped[int | None] = mapped_column(Integer)
    allow_ticket_transfers: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=text("true")
    )
    """Ticket holders may pass a ticket on to another account until the showtime starts."""
    """At most this many live tickets (held or booked) per buyer per showtime; None: no limit."""
    refund_cutoff_hours: Mapped[int] = mapped_column(
        Integer, nullable=False, default=24, server_default="24"
    )
    """Buyers may cancel a paid booking for a refund until this long before the showtime."""
    refund_fee_percent_bp: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    """Kept on a buyer's refund, in basis points of the refunded tickets' price."""
    refund_fee_fixed_minor: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )
    """Kept per buyer refund, in minor units, on top of the percent fee."""
    fee_percent_bp: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    """Booking fee, in basis points of the order's ticket subtotal after any discount."""
    fee_per_ticket_minor: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )
    """Booking fee per ticket, in minor units."""
    fee_per_order_minor: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )
    """Booking fee per order, in minor units. No fee of any kind on a free order."""
    accessible_release_hours: Mapped[int | None] = mapped_column(Integer)
    """This many hours before a showtime starts, its unsold wheelchair-accessible seats join
    best available for every buyer; None: they stay for those who ask for them."""
    fees_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the fees last changed (`EventFeeChange` keeps what they were): a booking made
    from a hold placed before then pays the fees of the hold's time, or the new ones if
    lower."""
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search_places: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    """Names of the cities and venues the event's showtimes are at (kept by the service)."""
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=True
    )


class ShowtimeStatus(enum.StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


class Showtime(TimestampMixin, Base):
    """A dated performance of an event at a venue (seed 000's "event schedule")."""

    __tablename__ = "showtimes"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_showtimes_starts_at", "starts_at"),
    )

    id: Mapped[UUIDPk]
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True, nullable=False
    )
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), index=True, nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[ShowtimeStatus] = mapped_column(
        str_enum(ShowtimeStatus, 20), nullable=False, default=ShowtimeStatus.scheduled
    )
    rescheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When its times last changed: buyers who paid before then may cancel for a full
    refund until it starts."""


class PriceTier(Base):
    __tablename__ = "price_tiers"
    __table_args__ = (
        UniqueConstraint("showtime_id", "section_id"),
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
    )

    id: Mapped[UUIDPk]
    showtime_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("showtimes.id", ondelete="CASCADE"), nullable=False
    )
    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sections.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)


class PriceTierChange(Base):
    """A tier's price or name changed, with what it was before: a booking made from an
    older hold pays what the hold was placed at (or less); the newest change of a
    showtime's tiers is the version cached seat maps check; who changed prices when."""

    __tablename__ = "price_tier_changes"
    __table_args__ = (Index(None, "price_tier_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    price_tier_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("price_tiers.id", ondelete="CASCADE"), nullable=False
    )
    previous_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    previous_name: Mapped[str] = mapped_column(String(80), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class EventFeeChange(Base):
    """An event's booking fees changed, with what they were before the change."""

    __tablename__ = "event_fee_changes"
    __table_args__ = (Index(None, "event_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    previous_fee_percent_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_fee_per_ticket_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    previous_fee_per_order_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class UserLocation(Base):
    """The last location a user posted (`POST /api/location`), used by "near me"."""

    __tablename__ = "user_locations"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    latitude: Mapped[float] = mapped_column(Float, nullable=False)
    longitude: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class SearchTerm(Base):
    """Every word that occurs in an event's search document, for spelling correction.

    A misspelled query word is matched by trigram similarity against this small table (the
    pg_trgm way), and the event search then runs on the corrected words through the
    full-text index. Words are only added; a stale one merely matches nothing.
    """

    __tablename__ = "search_terms"
    __table_args__ = (
        Index(
            "ix_search_terms_word_trgm",
            "word",
            postgresql_using="gist",
            postgresql_ops={"word": "gist_trgm_ops"},
        ),
    )

    word: Mapped[str] = mapped_column(Text, primary_key=True)
