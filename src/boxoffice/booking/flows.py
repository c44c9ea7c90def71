"""Multi-step buyer flows that span holds and bookings."""

from boxoffice.auth.models import User
from boxoffice.booking import holds, service
from boxoffice.booking.schemas import BookingCreate, BookingOut, HoldCreate
from boxoffice.config import Settings
from boxoffice.db.transaction import Db


async def book(db: Db, user: User, data: BookingCreate, settings: Settings) -> BookingOut:
    """Seed 001's one call: best available (or GA places) held and booked in one go.

    Not enough places gives 409 `sold_out`; the router then joins the waitlist (see
    `BookingCreate.join_waitlist`).
    """
    if data.hold_id is not None:
        return await service.create_from_hold(
            db, user, data.hold_id, settings, coupon_code=data.coupon_code
        )
    hold = await holds.place_hold(
        db,
        user,
        HoldCreate(
            showtime_id=data.showtime_id,
            event_id=data.event_id,
            quantity=data.quantity,
            section_id=data.section_id,
            price_tier_id=data.price_tier_id,
            allow_split=data.allow_split,
            accessible=data.accessible,
            access_code=data.access_code,
        ),
        settings.booking,
    )
    return await service.create_from_hold(db, user, hold.id, settings, coupon_code=data.coupon_code)
