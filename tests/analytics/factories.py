"""Bookings with chosen history timestamps, and inventory in chosen states, for analytics."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking.models import Booking, BookingStatus, Hold, HoldStatus
from boxoffice.catalog.models import Showtime
from boxoffice.inventory.models import InventoryUnit, UnitState
from boxoffice.kit.time import utcnow


async def create_booking(
    session: AsyncSession,
    *,
    buyer: User,
    showtime: Showtime,
    status: BookingStatus,
    created_at: datetime | None = None,
    confirmed_at: datetime | None = None,
    cancelled_at: datetime | None = None,
    quantity: int = 1,
    total_minor: int = 2500,
    currency: str = "USD",
) -> Booking:
    created = created_at or utcnow()
    hold = Hold(
        showtime_id=showtime.id,
        user_id=buyer.id,
        status=HoldStatus.converted,
        quantity=quantity,
        expires_at=created + timedelta(minutes=10),
        max_expires_at=created + timedelta(minutes=30),
    )
    session.add(hold)
    await session.flush()
    booking = Booking(
        user_id=buyer.id,
        showtime_id=showtime.id,
        event_id=showtime.event_id,
        hold_id=hold.id,
        status=status,
        quantity=quantity,
        total_minor=total_minor,
        currency=currency,
        expires_at=created + timedelta(minutes=15),
        confirmed_at=confirmed_at,
        cancelled_at=cancelled_at,
    )
    if created_at is not None:
        booking.created_at = created_at
    session.add(booking)
    await session.flush()
    return booking


async def set_unit_states(
    session: AsyncSession,
    showtime: Showtime,
    states: Sequence[tuple[UnitState, datetime | None]],
) -> None:
    """Give the showtime's first units these (state, held_until) pairs, in unit order."""
    units = (
        await session.scalars(
            select(InventoryUnit)
            .where(InventoryUnit.showtime_id == showtime.id)
            .order_by(InventoryUnit.id)
            .limit(len(states))
        )
    ).all()
    for unit, (state, held_until) in zip(units, states, strict=True):
        unit.state = state
        unit.held_until = held_until
    await session.flush()
