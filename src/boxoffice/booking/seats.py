"""Seed 000's `POST /bookings/{id}/seats`: add seats to a pending booking.

In boxoffice a booking is made from a hold; this route claims more seats straight into the
caller's pending booking (same all-or-nothing claim, same expiry as the booking), prices
them and adds their tickets. `status: "booked"` then confirms, which without payments only
a free booking or an admin (complimentary) may do.
"""

import uuid
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.booking import errors, holds, service
from boxoffice.booking.models import Booking, BookingStatus, Ticket, TicketStatus
from boxoffice.booking.repository import BookingRepository
from boxoffice.booking.schemas import SeatAssignment
from boxoffice.inventory import claim_service
from boxoffice.payment.pricing import price_breakdown


async def assign_seats(
    session: AsyncSession,
    user: User,
    booking_id: uuid.UUID,
    data: SeatAssignment,
) -> Booking:
    """Claim `seat_ids` into the caller's pending booking; `booked` confirms if allowed."""
    repo = BookingRepository(session)
    found = await repo.get_booking(booking_id)
    if found is None or found.user_id != user.id:
        raise errors.BookingNotFound()
    # The buyer's lock, as for a hold (the per-buyer limit counts under it), and the
    # showtime's share lock; then the booking's own lock. That order (showtime, booking,
    # units) is a showtime cancel's too, and a confirm's (booking, units): none deadlocks.
    window = await repo.sale_window(found.showtime_id, lock_buyer=user.id)
    if window is None:
        raise errors.BookingNotFound()
    booking = await repo.get_booking(booking_id, lock=True)
    if booking is None:
        raise errors.BookingNotFound()
    if booking.status is not BookingStatus.pending_payment:
        raise errors.IllegalTransition(extra={"booking_status": booking.status.value})
    if booking.expires_at < window.now:
        raise errors.BookingExpired("The booking's payment window has passed")
    holds.check_still_selling(window)
    if booking.quantity + len(data.seat_ids) > window.max_tickets_per_booking:
        raise errors.TicketCapExceeded(
            extra={"max_tickets_per_booking": window.max_tickets_per_booking}
        )
    await holds.check_buyer_limit(repo, window, user.id, len(data.seat_ids))
    claimed = await claim_service.claim_units(
        session, booking.showtime_id, booking.hold_id, booking.expires_at, seat_ids=data.seat_ids
    )
    await claim_service.attach_booking_units(
        session, booking.showtime_id, booking.hold_id, booking.id, booking.expires_at
    )
    lines = await repo.priced_units_by_id(claimed)
    if any(line.price_minor is None or line.currency != booking.currency for line in lines):
        raise errors.NotPriced()
    # The added seats bring their own booking fees (percent and per ticket); the per-order
    # fee only if the booking had not paid one yet (it was free until now).
    fees = replace(window.fees, per_order_minor=0) if booking.total_minor else window.fees
    added = price_breakdown([line.price_minor or 0 for line in lines], booking.currency, fees=fees)
    total = booking.total_minor + added.total_minor
    # The booking's breakdown grows by the added tickets, so it still adds up to the total.
    pricing = booking.meta.get("pricing") or {}
    pricing = {
        **pricing,
        "tickets": [*pricing.get("tickets", []), *(t.as_dict() for t in added.tickets)],
        "subtotal_minor": pricing.get("subtotal_minor", 0) + added.subtotal_minor,
        "fees_minor": pricing.get("fees_minor", 0) + added.fees_minor,
        "total_minor": total,
    }
    changed = await repo.transition(
        booking.id,
        version=booking.version,
        from_statuses=[BookingStatus.pending_payment],
        values={
            "quantity": booking.quantity + len(lines),
            "total_minor": total,
            "meta": {**booking.meta, "pricing": pricing},
        },
    )
    if not changed:
        raise errors.BookingVersionConflict()
    for line, priced in zip(lines, added.tickets, strict=True):
        session.add(
            Ticket(
                id=uuid.uuid4(),
                booking_id=booking.id,
                unit_id=line.unit_id,
                section_id=line.section_id,
                seat_id=line.seat_id,
                label=line.label,
                price_minor=priced.total_minor,
                currency=booking.currency,
                status=TicketStatus.pending,
            )
        )
    await session.flush()
    booking = await service.reload_booking(session, booking.id)
    if data.status == "booked":
        admin = has_permission(user.role, Permission.booking_manage_any)
        if booking.total_minor > 0 and not admin:
            raise errors.BookingNotPayable(
                "Pay for the booking; only free bookings confirm without payment"
            )
        return await service.confirm(
            session, booking.id, version=booking.version, complimentary=booking.total_minor > 0
        )
    return booking
