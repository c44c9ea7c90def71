import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base, str_enum


class UnitState(enum.StrEnum):
    available = "available"
    held = "held"
    sold = "sold"
    blocked = "blocked"


class InventoryUnit(Base):
    """One sellable place of a showtime: a seat, or one slot of a general-admission section.

    Snapshotted from the venue layout when the showtime is created, so later venue edits
    never change what a showtime sells. Only the inventory package changes `state`.
    """

    __tablename__ = "inventory_units"
    __table_args__ = (
        Index(
            "uq_inventory_units_showtime_id_seat_id",
            "showtime_id",
            "seat_id",
            unique=True,
            postgresql_where=text("seat_id IS NOT NULL"),
        ),
        Index(
            "uq_inventory_units_showtime_id_section_id_ga_slot",
            "showtime_id",
            "section_id",
            "ga_slot",
            unique=True,
            postgresql_where=text("ga_slot IS NOT NULL"),
        ),
        Index(
            "ix_inventory_units_showtime_id_section_id_state", "showtime_id", "section_id", "state"
        ),
        Index(
            "ix_inventory_units_free_places",
            "showtime_id",
            "section_id",
            "ga_slot",
            postgresql_where=text("state = 'available' AND ga_slot IS NOT NULL"),
        ),
        # Not partial on `state <> 'available'`: every lookup of a hold's units would
        # satisfy that predicate too, and stale statistics made the planner read all taken
        # units through it (migration 0013).
        Index("ix_inventory_units_showtime_id_state", "showtime_id", "state"),
        Index(
            "ix_inventory_units_hold_id", "hold_id", postgresql_where=text("hold_id IS NOT NULL")
        ),
        Index(
            "ix_inventory_units_booking_id",
            "booking_id",
            postgresql_where=text("booking_id IS NOT NULL"),
        ),
        # For the foreign keys: replacing a venue's layout deletes its sections and seats,
        # and each deleted row's check would otherwise scan every unit (migration 0031).
        # A claim's update is not HOT (it changes the indexed state), so it adds an entry
        # to these too; the direct ceiling measured the same with and without them.
        Index(
            "ix_inventory_units_seat_id", "seat_id", postgresql_where=text("seat_id IS NOT NULL")
        ),
        Index("ix_inventory_units_section_id", "section_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    showtime_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("showtimes.id", ondelete="CASCADE"), nullable=False
    )
    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sections.id"), nullable=False)
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("seats.id"))
    ga_slot: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[UnitState] = mapped_column(
        str_enum(UnitState, 16), nullable=False, default=UnitState.available
    )
    hold_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class InventoryVersion(Base):
    """Change counter of a showtime's units, spread over shards so buyers do not queue on one.

    Every state change bumps one shard, the same one for every change of a transaction
    (`claim_repository.transaction_shard`); the showtime's version is the sum, which only
    grows, so a cached seat map keyed by it is fresh exactly when the sum is unchanged.
    """

    __tablename__ = "inventory_versions"

    showtime_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("showtimes.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
