"""Where money meets bookings: what a payment may be opened for, what a succeeded payment
or refund does to its booking. Called by the payment domain's hooks, in their transaction.

Late payment policy (ARCHITECTURE.md): a payment that succeeds after its booking's window
confirms the booking while its units are still its own or free again (they are re-claimed);
when they were taken by someone else, the caller refunds the payment automatically. Either
way the booking's `metadata.payments` records what happened.
"""

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking import errors, service
from boxoffice.booking.models import Booking, BookingStatus, TicketStatus
from boxoffice.booking.repository import BookingRepository
from boxoffice.config import Settings
from boxoffice.inventory import claim_service
from boxoffice.inventory.errors import SeatsUnavailable
from boxoffice.kit.time import utcnow

Settlement = Literal["confirmed", "already_confirmed", "refund"]


async def _locked(session: AsyncSession, booking_id: uuid.UUID) -> Booking | None:
    return (
        await session.execute(
            select(Booking)
            .where(Booking.id == booking_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def payable(session: AsyncSession, user: User, booking_id: uuid.UUID) -> Booking:
    """The caller's booking, waiting for payment and inside its window (404/409/410 else)."""
    booking = await BookingRepository(session).get_booking(booking_id)
    if booking is None or booking.user_id != user.id:
        raise errors.BookingNotFound()
    if booking.status is BookingStatus.expired or (
        booking.status is BookingStatus.pending_payment and booking.expires_at <= utcnow()
    ):
        raise errors.BookingExpired(extra={"expires_at": booking.expires_at.isoformat()})
    if booking.status is not BookingStatus.pending_payment:
        raise errors.BookingNotPayable(
            f"A {booking.status.value} booking cannot be paid",
            extra={"booking_status": booking.status.value},
        )
    if booking.total_minor <= 0:
        raise errors.BookingNotPayable(
            "This booking costs nothing", extra={"booking_status": "free"}
        )
    return booking


def _note(booking: Booking, entry: dict[str, Any]) -> None:
    history = [*booking.meta.get("payments", []), {"at": utcnow().isoformat(), **entry}]
    booking.meta = {**booking.meta, "payments": history}


async def settle_paid(
    session: AsyncSession,
    booking_id: uuid.UUID,
    *,
    payment_id: uuid.UUID,
    amount_minor: int,
    settings: Settings | None = None,
) -> Settlement:
    """A payment for the booking succeeded: confirm it (units sold, tickets issued).

    Returns `refund` when the booking can no longer be sold (its units were taken after it
    expired, or it was cancelled or already paid by another payment): the caller gives the
    money back.
    """
    booking = await _locked(session, booking_id)
    if booking is None:
        return "refund"
    paid = {"payment_id": str(payment_id), "amount_minor": amount_minor}
    if booking.status is BookingStatus.confirmed:
        if booking.meta.get("paid_by") == str(payment_id):
            return "already_confirmed"
        _note(booking, {**paid, "outcome": "refunded_duplicate_payment"})
        await session.flush()
        return "refund"
    if booking.status not in (BookingStatus.pending_payment, BookingStatus.expired):
        _note(booking, {**paid, "outcome": f"refunded_booking_{booking.status.value}"})
        await session.flush()
        return "refund"
    late = booking.status is BookingStatus.expired or booking.expires_at <= utcnow()
    if late and not await _reclaim(session, booking, settings or Settings()):
        _note(booking, {**paid, "outcome": "late_payment_refunded", "reason": "units taken"})
        await session.flush()
        return "refund"
    _note(booking, {**paid, "outcome": "late_payment_accepted" if late else "confirmed"})
    booking.meta = {**booking.meta, "paid_by": str(payment_id)}
    await session.flush()
    await service.confirm(session, booking.id, version=None, complimentary=False)
    return "confirmed"


async def _reclaim(session: AsyncSession, booking: Booking, settings: Settings) -> bool:
    """Put a lapsed booking's units back under it (they must be free or still its own)."""
    repo = BookingRepository(session)
    unit_ids = [t.unit_id for t in (await repo.tickets([booking.id])).get(booking.id, [])]
    held_until = utcnow() + timedelta(seconds=settings.booking.payment_window_seconds)
    await claim_service.free_booking_units(
        session, booking.showtime_id, booking.hold_id, booking.id
    )
    try:
        await claim_service.claim_units(
            session, booking.showtime_id, booking.hold_id, held_until, unit_ids=unit_ids
        )
    except SeatsUnavailable:
        return False
    await claim_service.attach_booking_units(
        session, booking.showtime_id, booking.hold_id, booking.id, held_until
    )
    await session.execute(
        update(Booking)
        .where(Booking.id == booking.id)
        .values(status=BookingStatus.pending_payment, expires_at=held_until, expired_at=None)
        .execution_options(synchronize_session=False)
    )
    await repo.set_ticket_status(booking.id, TicketStatus.pending)
    await session.refresh(booking)
    return True


async def settle_refunded(
    session: AsyncSession,
    booking_id: uuid.UUID,
    *,
    refund_id: uuid.UUID,
    ticket_ids: Sequence[uuid.UUID] | None,
    fully_refunded: bool,
) -> None:
    """Money went back: refunded tickets are voided and their units back on sale; a booking
    with no live ticket left (or whose payment is refunded in full) becomes `refunded`."""
    booking = await _locked(session, booking_id)
    if booking is None or booking.status is not BookingStatus.confirmed:
        return
    repo = BookingRepository(session)
    tickets = (await repo.tickets([booking.id])).get(booking.id, [])
    if ticket_ids is None and not fully_refunded:
        _note(booking, {"refund_id": str(refund_id), "outcome": "partial_amount_refunded"})
        await session.flush()
        return
    chosen = set(ticket_ids) if ticket_ids is not None else {t.id for t in tickets}
    voiding = [t for t in tickets if t.id in chosen and t.status is TicketStatus.issued]
    if voiding:
        await service.void_tickets(session, booking.id, [t.id for t in voiding], reason="refunded")
        released = await claim_service.free_booking_units(
            session,
            booking.showtime_id,
            booking.hold_id,
            booking.id,
            unit_ids=[t.unit_id for t in voiding],
        )
        await claim_service.units_released(
            session, booking.showtime_id, released, "booking_refunded"
        )
    live = [t for t in tickets if t.status is TicketStatus.issued and t.id not in chosen]
    _note(
        booking,
        {
            "refund_id": str(refund_id),
            "outcome": "refunded" if not live else "tickets_refunded",
            "ticket_ids": [str(t.id) for t in voiding],
        },
    )
    if not live:
        booking.status = BookingStatus.refunded
        booking.version += 1
        booking.cancelled_at = utcnow()
    await session.flush()
