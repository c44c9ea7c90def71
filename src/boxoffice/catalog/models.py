import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
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


class Event(TimestampMixin, Base):
    __tablename__ = "events"

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
    hold_ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=600)
    max_tickets_per_booking: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ShowtimeStatus(enum.StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


class Showtime(TimestampMixin, Base):
    """A dated performance of an event at a venue (seed 000's "event schedule")."""

    __tablename__ = "showtimes"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

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
    price_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
