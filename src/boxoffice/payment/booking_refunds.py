"""Refunding bookings: a buyer cancelling a paid booking under the event's refund policy,
an admin or the event's organizer refunding a booking (whole, or some of its tickets).

The money goes back through the payment that confirmed the booking; the refund hook
(`refunds.on_refund_succeeded`) voids the tickets and puts their units back on sale. With an
asynchronous provider the booking changes when the refund's webhook arrives.
"""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.booking import errors as booking_errors
from boxoffice.booking import holds
from boxoffice.booking import service as booking_service
from boxoffice.booking.models import Booking, BookingStatus, Ticket, TicketStatus
from boxoffice.booking.repository import BookingRepository
from boxoffice.catalog.models import Event, Showtime
from boxoffice.inventory import claim_service
from boxoffice.kit.time import utcnow
from boxoffice.payment import refunds
from boxoffice.payment.errors import BookingNotRefundable, UnknownTickets
from boxoffice.payment.models import Payment, PaymentStatus
from boxoffice.payment.providers.base import PaymentProvider
from boxoffice.payment.refund_policy import RefundPolicy, quote_refund
from boxoffice.waitlist import service as waitlist_service


def policy_of(event: Event) -> RefundPolicy:
    return RefundPolicy(
        cutoff=timedelta(hours=event.refund_cutoff_hours),
        fee_percent_bp=event.refund_fee_percent_bp,
        fee_fixed_minor=event.refund_fee_fixed_minor,
    )


async def _paid_by(session: AsyncSession, booking: Booking) -> Payment | None:
    payment_id = booking.meta.get("paid_by")
    if payment_id is None:
        return None
    payment = await session.get(Payment, uuid.UUID(payment_id))
    return payment if payment and payment.status is PaymentStatus.succeeded else None


def moved_since_paid(showtime: Showtime, booking: Booking, now: datetime) -> bool:
    """The showtime was rescheduled after the booking was confirmed and has not started:
    its buyer may cancel for the full price, whatever the event's refund policy says."""
    return (
        showtime.rescheduled_at is not None
        and booking.confirmed_at is not None
        and booking.confirmed_at < showtime.rescheduled_at
        and now < showtime.starts_at
    )


def is_paid(booking: Booking) -> bool:
    """A confirmed booking a payment confirmed (complimentary ones are not)."""
    return booking.status is BookingStatus.confirmed and "paid_by" in booking.meta


async def refund_booking(
    session: AsyncSession,
    provider: PaymentProvider,
    user: User,
    booking_id: uuid.UUID,
    *,
    ticket_ids: Sequence[uuid.UUID] | None,
    reason: str,
    by_buyer: bool,
) -> Booking:
    """Refund the booking's tickets (`None`: all live ones) and void them.

    A buyer gets the policy's amount (price less the event's fee) and only before the
    event's cut-off (else 422 `refund_window_closed`), or the full price until the start
    if the showtime was moved after they paid; an admin or the event's organizer refunds
    the full price at any time.
    """
    repo = BookingRepository(session)
    # The booking row first, then (in `refunds.refund`) the payment: the order every path
    # that touches both takes (a cancelled showtime locks its bookings, then their payments),
    # so a buyer's cancel, a staff refund and a showtime cancel queue instead of deadlocking.
    booking = await repo.get_booking(booking_id, lock=True)
    if booking is None:
        raise booking_errors.BookingNotFound()
    found = (
        await session.execute(
            select(Showtime, Event)
            .join(Event, Event.id == Showtime.event_id)
            .where(Showtime.id == booking.showtime_id)
        )
    ).one()
    showtime, event = found
    if by_buyer:
        allowed = booking.user_id == user.id
    else:
        allowed = has_permission(user.role, Permission.payment_refund_any) or (
            user.role is Role.organizer and event.organizer_id == user.id
        )
    if not allowed:
        raise booking_errors.BookingNotFound()
    payment = await _paid_by(session, booking)
    if booking.status is not BookingStatus.confirmed or payment is None:
        raise BookingNotRefundable(extra={"booking_status": booking.status.value})
    live = [
        t
        for t in (await repo.tickets([booking.id])).get(booking.id, [])
        if t.status is TicketStatus.issued
    ]
    wanted = set(ticket_ids) if ticket_ids is not None else {t.id for t in live}
    unknown = wanted - {t.id for t in live}
    if unknown or not wanted:
        raise UnknownTickets(extra={"ticket_ids": sorted(str(t) for t in unknown)})
    selected = [i for i, t in enumerate(live) if t.id in wanted]
    prices = [t.price_minor for t in live]
    now = utcnow()
    if by_buyer and not moved_since_paid(showtime, booking, now):
        quote = quote_refund(
            policy_of(event), prices, selected, starts_at=showtime.starts_at, now=now
        )
        amount = quote.refundable_minor
    else:
        amount = sum(prices[i] for i in selected)
    amount = min(amount, payment.amount_minor - payment.refunded_minor)
    if amount <= 0:
        raise BookingNotRefundable("Nothing is left to refund", extra={"refundable_minor": 0})
    await refunds.refund(
        session,
        provider,
        payment.id,
        amount,
        reason=reason or ("buyer cancelled" if by_buyer else "refunded by staff"),
        initiated_by=None if by_buyer else user.id,
        actor=user,
        ticket_ids=[live[i].id for i in selected],
    )
    return await booking_service.reload_booking(session, booking.id)


async def settle_cancelled_showtimes(
    session: AsyncSession,
    by: User,
    showtime_ids: Sequence[uuid.UUID],
    provider: Callable[[], PaymentProvider],
) -> list[uuid.UUID]:
    """The showtimes were cancelled: refund every paid booking in full, cancel the others,
    release every hold and close every waitlist entry (units released); returns the ids of
    the buyers who held tickets, bookings or seats or were waiting, and of whom tickets were
    transferred to (told too; the money goes back to the buyer).

    Locks in the order every stock path takes them (`inventory.claim_repository`): the
    showtimes (the caller's update), the waitlist entries, the holds, the bookings, then all
    their units at once, before anything is freed."""
    waiting = await waitlist_service.close_for_cancelled(session, showtime_ids)
    held = await holds.lock_for_cancelled(session, showtime_ids)
    bookings = (
        await session.scalars(
            select(Booking)
            .where(
                Booking.showtime_id.in_(showtime_ids),
                Booking.status.in_([BookingStatus.pending_payment, BookingStatus.confirmed]),
            )
            .order_by(Booking.id)
            .with_for_update(key_share=True)
        )
    ).all()
    # Their claimable units next, before any is freed: a buyer claiming a lapsed pending
    # booking's seats would otherwise wait for the version row this transaction's first
    # free takes, while a later free here waits for those seats (`TestShowtimeCancelRace`).
    await claim_service.lock_claimable_units(
        session, hold_ids=[h.id for h in held], booking_ids=[b.id for b in bookings]
    )
    repo = BookingRepository(session)
    user_ids: dict[uuid.UUID, None] = {}
    holders = (
        await session.scalars(
            select(Ticket.holder_id)
            .where(
                Ticket.booking_id.in_([b.id for b in bookings]),
                Ticket.status == TicketStatus.issued,
                Ticket.holder_id.is_not(None),
            )
            .distinct()
        )
    ).all()
    for booking in bookings:
        user_ids[booking.user_id] = None
        payment = await _paid_by(session, booking) if is_paid(booking) else None
        if payment is None:
            await booking_service.cancel_unchecked(session, by, booking)
            continue
        live = [
            t.id
            for t in (await repo.tickets([booking.id])).get(booking.id, [])
            if t.status is TicketStatus.issued
        ]
        await refunds.refund(
            session,
            provider(),
            payment.id,
            None,
            reason="showtime cancelled",
            initiated_by=by.id,
            actor=by,
            ticket_ids=live,
        )
    await holds.end_for_cancelled(session, held)
    for user_id in [*(h.user_id for h in held), *waiting, *holders]:
        if user_id is not None:
            user_ids[user_id] = None
    return list(user_ids)
