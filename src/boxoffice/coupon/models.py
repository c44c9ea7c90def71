"""Coupons and their redemptions (one per booking)."""

import enum
import uuid
from datetime import datetime

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
from sqlalchemy.dialects.postgresql import ARRAY, CITEXT, UUID
from sqlalchemy.orm import Mapped, mapped_column

# The table redemptions reference, so the foreign key resolves whatever imported this first.
import boxoffice.booking.models  # noqa: F401
from boxoffice.db.base import Base, TimestampMixin, UUIDPk, str_enum


class CouponKind(enum.StrEnum):
    percent = "percent"
    fixed = "fixed"


class Coupon(TimestampMixin, Base):
    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'percent' AND value BETWEEN 1 AND 100 AND currency IS NULL)"
            " OR (kind = 'fixed' AND value > 0 AND currency IS NOT NULL)",
            name="value_fits_kind",
        ),
        CheckConstraint(
            "redeemed_count >= 0"
            " AND (max_redemptions IS NULL OR redeemed_count <= max_redemptions)",
            name="redemptions_within_limit",
        ),
        CheckConstraint("max_per_user IS NULL OR max_per_user >= 1", name="per_user_positive"),
        CheckConstraint(
            "valid_until IS NULL OR valid_until > valid_from", name="valid_until_after_from"
        ),
    )

    id: Mapped[UUIDPk]
    code: Mapped[str] = mapped_column(CITEXT, unique=True, nullable=False)
    """Case-insensitive: `SUMMER10` and `summer10` are the same coupon."""
    kind: Mapped[CouponKind] = mapped_column(str_enum(CouponKind, 10), nullable=False)
    value: Mapped[int] = mapped_column(Integer, nullable=False)
    """Whole percent (1..100) for percent coupons; minor units for fixed ones."""
    currency: Mapped[str | None] = mapped_column(String(3))
    valid_from: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    redeemed_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_per_user: Mapped[int | None] = mapped_column(Integer)
    organizer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    """Scope: only events of this organizer (null: any organizer, admins only)."""
    event_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'"), default=list
    )
    """Scope: only these events (empty: every event in the organizer scope)."""
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class CouponRedemption(Base):
    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        Index(
            "uq_coupon_redemptions_booking_id_active",
            "booking_id",
            unique=True,
            postgresql_where=text("released_at IS NULL"),
        ),
        Index("ix_coupon_redemptions_coupon_id_user_id", "coupon_id", "user_id"),
        CheckConstraint("amount_minor >= 0", name="amount_non_negative"),
    )

    id: Mapped[UUIDPk]
    coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coupons.id"), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), nullable=False)
    """The booking discounted."""
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when the booking was cancelled or expired: the use is given back."""
