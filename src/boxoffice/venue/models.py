import enum
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base, TimestampMixin, UUIDPk, str_enum


class City(TimestampMixin, Base):
    __tablename__ = "cities"
    __table_args__ = (
        UniqueConstraint("name", "country"),
        Index("ix_cities_earth", text("ll_to_earth(latitude, longitude)"), postgresql_using="gist"),
        Index(
            "ix_cities_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    """ISO 3166-1 alpha-2."""
    latitude: Mapped[float] = mapped_column(Float, nullable=False)
    longitude: Mapped[float] = mapped_column(Float, nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)


class Venue(TimestampMixin, Base):
    __tablename__ = "venues"
    __table_args__ = (
        Index("ix_venues_earth", text("ll_to_earth(latitude, longitude)"), postgresql_using="gist"),
    )

    id: Mapped[UUIDPk]
    organizer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    address: Mapped[str] = mapped_column(Text, nullable=False, default="")
    latitude: Mapped[float] = mapped_column(Float, nullable=False)
    longitude: Mapped[float] = mapped_column(Float, nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class SectionKind(enum.StrEnum):
    reserved = "reserved"
    general_admission = "general_admission"


class Section(TimestampMixin, Base):
    __tablename__ = "sections"
    __table_args__ = (
        UniqueConstraint("venue_id", "name"),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
    )

    id: Mapped[UUIDPk]
    venue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[SectionKind] = mapped_column(str_enum(SectionKind, 24), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    """Seats in a reserved section (kept equal to its seat count); places in a GA one."""
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    """Lower is nearer the stage; best-available prefers lower sections first."""


class Seat(Base):
    __tablename__ = "seats"
    __table_args__ = (UniqueConstraint("section_id", "row_label", "number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    section_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), nullable=False
    )
    row_label: Mapped[str] = mapped_column(String(8), nullable=False)
    row_index: Mapped[int] = mapped_column(Integer, nullable=False)
    """0 is the row nearest the stage."""
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    x: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    y: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    accessible: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
