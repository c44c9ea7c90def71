"""Booking rules: create from a hold, confirm, cancel, expire; listings with ownership."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.booking import errors, holds, reference
from boxoffice.booking.models import (
    Booking,
    BookingStatus,
    HoldStatus,
    Ticket,
    TicketStatus,
)
from boxoffice.booking.repository import (
    BookingFilters,
    BookingRepository,
    NewTicket,
    UnitLine,
)
from boxoffice.booking.schemas import BookingOut, TicketOut
from boxoffice.booking.tickets import current_code
from boxoffice.config import Settings
from boxoffice.coupon import service as coupon_service
from boxoffice.db.transaction import Db, orm
from boxoffice.inventory import claim_service
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.pagination import PageParams
from boxoffice.kit.time import utcnow
from boxoffice.payment.pricing import FeePolicy, PriceBreakdown, price_breakdown


async def create_from_hold(
    db: Db,
    user: User,
    hold_id: uuid.UUID,
    settings: Settings,
    *,
    coupon_code: str | None = None,
) -> BookingOut:
    """Price the hold's units (less a coupon's discount) and move them into a booking that
    waits for payment. The price breakdown is kept in `metadata.pricing`; each ticket's
    `price_minor` is what the buyer pays for it (the basis of per-ticket refunds).

    Every booking runs this, so its statements are plain asyncpg (see `db.driver`), the
    ORM session is asked for only by a coupon or a free booking, and the answer is built
    from what the transaction wrote, not read back.
    """
    holds.check_may_buy(user, settings.booking)
    repo = BookingRepository(db)
    found = await repo.hold_in_window(hold_id)
    if found is None or found[0].user_id != user.id:
        raise errors.HoldNotFound()
    hold, window = found
    holds.check_still_selling(window)
    if hold.status is not HoldStatus.active:
        raise errors.HoldNotActive()
    now = window.now
    if hold.expires_at < now:
        raise errors.HoldExpired()
    booking_id = uuid.uuid4()
    expires_at = now + timedelta(seconds=settings.booking.payment_window_seconds)
    # Moving the units under the booking answers their labels and prices (one statement).
    lines = [
        UnitLine(*row)
        for row in await claim_service.attach_booking_units_priced(
            db, hold.showtime_id, hold.id, booking_id, expires_at
        )
    ]
    if len(lines) < hold.quantity or not lines:
        raise errors.HoldExpired("Some of the held seats were lost; hold them again")
    if any(line.price_minor is None for line in lines):
        raise errors.NotPriced()
    currencies = {line.currency for line in lines}
    if len(currencies) != 1:
        raise errors.NotPriced("The held seats are priced in different currencies")
    currency = currencies.pop() or ""
    unit_prices = [line.price_minor or 0 for line in lines]
    # As with prices: never more fees than when the seats were held.
    policies = [window.fees]
    if window.fees_changed_at is not None and window.fees_changed_at > hold.created_at:
        held_at = await repo.fees_at(window.event_id, hold.created_at)
        policies += [held_at] if held_at is not None else []
    breakdown = _cheapest(unit_prices, currency, 0, policies)
    tickets = _new_tickets(lines, breakdown)
    values = {
        "id": booking_id,
        "user_id": user.id,
        "showtime_id": hold.showtime_id,
        "event_id": window.event_id,
        "hold_id": hold.id,
        "quantity": len(lines),
        "total_minor": breakdown.total_minor,
        "currency": currency,
        "expires_at": expires_at,
        "meta": json.dumps({"pricing": {**breakdown.as_dict(), "coupon_code": None}}),
    }
    created_at = await repo.insert_sale(values, tickets)
    if coupon_code is not None:
        # The coupon row is locked after every stock change of this transaction: the stock
        # version shards are always locked before it, never after (no deadlock).
        discount = await coupon_service.redeem(
            orm(db),
            coupon_code,
            user.id,
            window.event_id,
            window.organizer_id,
            # Coupons take off the tickets' price, never the booking fees.
            breakdown.subtotal_minor,
            currency,
            booking_id,
        )
        breakdown = _cheapest(unit_prices, currency, discount.amount_minor, policies)
        tickets = _new_tickets(lines, breakdown, ids=[t.id for t in tickets])
    pricing = {**breakdown.as_dict(), "coupon_code": coupon_code.upper() if coupon_code else None}
    if coupon_code is not None:
        await repo.reprice_sale(
            booking_id, breakdown.total_minor, json.dumps({"pricing": pricing}), tickets
        )
    if breakdown.total_minor == 0:
        booking = await _reload(repo, booking_id)
        confirmed = await _confirm(orm(db), booking, booking.version, complimentary=False)
        return (await present(orm(db), [confirmed], settings))[0]
    # The answer is built from what was written, not read back (plain records: transient
    # ORM rows cost more than the rest of the answer).
    written_booking = Written(
        id=booking_id,
        user_id=user.id,
        showtime_id=hold.showtime_id,
        event_id=window.event_id,
        hold_id=hold.id,
        status=BookingStatus.pending_payment,
        quantity=len(lines),
        total_minor=breakdown.total_minor,
        currency=currency,
        expires_at=expires_at,
        version=1,
        complimentary=False,
        meta={"pricing": pricing},
        created_at=created_at,
        confirmed_at=None,
        cancelled_at=None,
    )
    written_tickets = [
        WrittenTicket(
            id=t.id,
            booking_id=booking_id,
            unit_id=t.unit_id,
            section_id=t.section_id,
            seat_id=t.seat_id,
            label=t.label,
            price_minor=t.price_minor,
            currency=currency,
            status=TicketStatus.pending,
            code_version=0,
            checked_in_at=None,
            holder_id=None,
        )
        for t in sorted(tickets, key=lambda t: t.label)
    ]
    return _presented(written_booking, written_tickets, now, settings)


@dataclass(frozen=True, slots=True)
class Written:
    """A booking as `create_from_hold` wrote it, with the attributes `_presented` reads."""

    id: uuid.UUID
    user_id: uuid.UUID
    showtime_id: uuid.UUID
    event_id: uuid.UUID
    hold_id: uuid.UUID | None
    status: BookingStatus
    quantity: int
    total_minor: int
    currency: str
    expires_at: datetime
    version: int
    complimentary: bool
    meta: dict[str, Any]
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True, slots=True)
class WrittenTicket:
    """A ticket as `create_from_hold` wrote it, with the attributes `ticket_fields` reads."""

    id: uuid.UUID
    booking_id: uuid.UUID
    unit_id: int
    section_id: uuid.UUID
    seat_id: int | None
    label: str
    price_minor: int
    currency: str
    status: TicketStatus
    code_version: int
    checked_in_at: datetime | None
    holder_id: uuid.UUID | None


def _cheapest(
    unit_prices: list[int], currency: str, discount_minor: int, policies: list[FeePolicy]
) -> PriceBreakdown:
    """The breakdown under whichever fee policy costs the buyer least (the first on a tie)."""
    return min(
        (
            price_breakdown(unit_prices, currency, discount_minor=discount_minor, fees=fees)
            for fees in policies
        ),
        key=lambda breakdown: breakdown.fees_minor,
    )


def _new_tickets(
    lines: list[UnitLine],
    breakdown: PriceBreakdown,
    *,
    ids: list[uuid.UUID] | None = None,
) -> list[NewTicket]:
    """One ticket per unit, priced from `breakdown` (its code is computed when shown)."""
    ids = ids or [uuid.uuid4() for _ in lines]
    return [
        NewTicket(
            id=ticket_id,
            unit_id=line.unit_id,
            section_id=line.section_id,
            seat_id=line.seat_id,
            label=line.label,
            price_minor=priced.total_minor,
        )
        for ticket_id, line, priced in zip(ids, lines, breakdown.tickets, strict=True)
    ]


async def _confirm(
    session: AsyncSession,
    booking: Booking,
    version: int,
    *,
    complimentary: bool,
    if_match: bool = False,
) -> Booking:
    repo = BookingRepository(session)
    changed = await repo.transition(
        booking.id,
        version=version,
        from_statuses=[BookingStatus.pending_payment],
        values={
            "status": BookingStatus.confirmed,
            "confirmed_at": func.now(),
            "complimentary": complimentary,
        },
    )
    if not changed:
        await _explain_failed_transition(repo, booking.id, version, if_match=if_match)
    sold = await claim_service.sell_booking_units(
        session, booking.showtime_id, booking.hold_id, booking.id
    )
    if len(sold) != booking.quantity:
        raise errors.BookingExpired()
    await repo.set_ticket_status(booking.id, TicketStatus.issued, only=TicketStatus.pending)
    await emit(
        session,
        Topic.booking_confirmed,
        booking.id,
        {
            "booking_id": str(booking.id),
            "user_id": str(booking.user_id),
            "showtime_id": str(booking.showtime_id),
            "event_id": str(booking.event_id),
            "quantity": booking.quantity,
            "total_minor": booking.total_minor,
            "currency": booking.currency,
        },
    )
    return await _reload(repo, booking.id)


async def reload_booking(session: AsyncSession, booking_id: uuid.UUID) -> Booking:
    """The booking as stored now."""
    return await _reload(BookingRepository(session), booking_id)


async def _reload(repo: BookingRepository, booking_id: uuid.UUID) -> Booking:
    booking = await repo.get_booking(booking_id)
    if booking is None:
        raise errors.BookingNotFound()
    return booking


async def _explain_failed_transition(
    repo: BookingRepository, booking_id: uuid.UUID, version: int, *, if_match: bool = False
) -> None:
    current = await _reload(repo, booking_id)
    if current.version != version:
        error = errors.BookingPreconditionFailed if if_match else errors.BookingVersionConflict
        raise error(
            extra={"current_version": current.version, "booking_status": current.status.value}
        )
    raise errors.IllegalTransition(
        f"A {current.status.value} booking cannot make this change",
        extra={"booking_status": current.status.value},
    )


async def confirm(
    session: AsyncSession,
    booking_id: uuid.UUID,
    *,
    version: int | None,
    complimentary: bool,
    if_match: bool = False,
) -> Booking:
    """Confirm a pending booking: units sold, tickets issued, in one transaction.

    The hook payments call on success; over HTTP only an admin may call it (a
    complimentary booking). A payment landing after the payment window is accepted while
    the units are still this booking's, else `booking_expired`.
    """
    repo = BookingRepository(session)
    booking = await repo.get_booking(booking_id)
    if booking is None:
        raise errors.BookingNotFound()
    return await _confirm(
        session,
        booking,
        booking.version if version is None else version,
        complimentary=complimentary,
    )


def can_read(user: User, booking: Booking, organizer_id: uuid.UUID | None) -> bool:
    return (
        booking.user_id == user.id
        or has_permission(user.role, Permission.booking_read_any)
        or (user.role is Role.organizer and organizer_id == user.id)
    )


async def get_visible(session: AsyncSession, user: User, booking_id: uuid.UUID) -> Booking:
    """The booking if the caller may see it (buyer, the event's organizer, admin), else 404."""
    repo = BookingRepository(session)
    booking = await repo.get_booking(booking_id)
    if booking is None:
        raise errors.BookingNotFound()
    found = await repo.showtime_with_event(booking.showtime_id)
    organizer = found[1].organizer_id if found else None
    if not can_read(user, booking, organizer):
        raise errors.BookingNotFound()
    return booking


async def cancel(
    session: AsyncSession,
    user: User,
    booking_id: uuid.UUID,
    *,
    version: int | None,
    if_match: bool = False,
) -> Booking:
    """Cancel (buyer or admin): units back on sale at once, the booking kept for history."""
    repo = BookingRepository(session)
    booking = await repo.get_booking(booking_id)
    manages = has_permission(user.role, Permission.booking_manage_any)
    if booking is None or (booking.user_id != user.id and not manages):
        raise errors.BookingNotFound()
    return await cancel_unchecked(session, user, booking, version=version, if_match=if_match)


async def cancel_unchecked(
    session: AsyncSession,
    user: User,
    booking: Booking,
    *,
    version: int | None = None,
    if_match: bool = False,
) -> Booking:
    """Cancel without the ownership check (the caller decided `user` may, e.g. the organizer
    cancelling a showtime): units freed, tickets voided, `booking.cancelled` emitted."""
    repo = BookingRepository(session)
    expected = booking.version if version is None else version
    changed = await repo.transition(
        booking.id,
        version=expected,
        from_statuses=[BookingStatus.pending_payment, BookingStatus.confirmed],
        values={
            "status": BookingStatus.cancelled,
            "cancelled_at": func.now(),
            "cancelled_by": user.id,
        },
    )
    if not changed:
        await _explain_failed_transition(repo, booking.id, expected, if_match=if_match)
    released = await claim_service.free_booking_units(
        session, booking.showtime_id, booking.hold_id, booking.id
    )
    await void_tickets(session, booking.id, reason="booking_cancelled")
    await coupon_service.release(session, booking.id)
    await emit(
        session,
        Topic.booking_cancelled,
        booking.id,
        {
            "booking_id": str(booking.id),
            "user_id": str(booking.user_id),
            "showtime_id": str(booking.showtime_id),
            "cancelled_by": str(user.id),
            "was": booking.status.value,
        },
    )
    await claim_service.units_released(session, booking.showtime_id, released, "booking_cancelled")
    return await _reload(repo, booking.id)


_LOCK_BOOKING = text("SELECT 1 FROM bookings WHERE id = :booking_id FOR UPDATE")
_USED = text(
    """
    SELECT min(t.checked_in_at),
           bool_or(t.status = 'issued' AND t.holder_id IS NOT NULL AND t.holder_id <> b.user_id)
      FROM tickets t JOIN bookings b ON b.id = t.booking_id
     WHERE t.booking_id = :booking_id
    """
)


async def refuse_if_used(session: AsyncSession, booking_id: uuid.UUID) -> None:
    """Lock the booking, then refuse if any of its tickets was admitted (409
    `booking_checked_in`) or given to someone else (409 `booking_tickets_transferred`). For
    a buyer's own cancel: the seats were used, or are no longer theirs to give back.

    Two statements on purpose: the look must take a snapshot after the lock is granted, to
    see a check-in or a transfer that committed while this one waited for it."""
    await session.execute(_LOCK_BOOKING, {"booking_id": booking_id})
    first, transferred = (await session.execute(_USED, {"booking_id": booking_id})).one()
    if first is not None:
        raise errors.BookingCheckedIn(extra={"checked_in_at": first.isoformat()})
    if transferred:
        raise errors.BookingTicketsTransferred()


_GIVEN_AWAY = text(
    """
    SELECT t.id, t.holder_id, t.label, b.showtime_id, b.event_id
      FROM tickets t JOIN bookings b ON b.id = t.booking_id
     WHERE t.booking_id = :booking_id AND t.status = 'issued'
       AND t.holder_id IS NOT NULL AND t.holder_id <> b.user_id
       AND (CAST(:ticket_ids AS uuid[]) IS NULL OR t.id = ANY(CAST(:ticket_ids AS uuid[])))
    """
)


async def void_tickets(
    session: AsyncSession,
    booking_id: uuid.UUID,
    ticket_ids: Sequence[uuid.UUID] | None = None,
    *,
    reason: str,
) -> None:
    """Void a booking's live tickets (`ticket_ids`, or all), cancelled or refunded. Each one
    its buyer had given to someone else gets a `ticket.voided` event first, so its holder
    learns it is gone (the money goes back to the buyer)."""
    rows = await session.execute(
        _GIVEN_AWAY,
        {
            "booking_id": booking_id,
            "ticket_ids": list(ticket_ids) if ticket_ids is not None else None,
        },
    )
    for row in rows:
        await emit(
            session,
            Topic.ticket_voided,
            row.id,
            {
                "ticket_id": str(row.id),
                "booking_id": str(booking_id),
                "user_id": str(row.holder_id),
                "label": row.label,
                "showtime_id": str(row.showtime_id),
                "event_id": str(row.event_id),
                "reason": reason,
            },
        )
    await BookingRepository(session).set_ticket_status(
        booking_id, TicketStatus.void, ticket_ids=ticket_ids
    )


async def expire_booking(session: AsyncSession, booking_id: uuid.UUID) -> bool:
    """Expire one pending booking past its payment window; False if it changed meanwhile."""
    repo = BookingRepository(session)
    booking = await repo.get_booking(booking_id)
    if booking is None or booking.status is not BookingStatus.pending_payment:
        return False
    changed = await repo.transition(
        booking.id,
        version=booking.version,
        from_statuses=[BookingStatus.pending_payment],
        values={"status": BookingStatus.expired, "expired_at": func.now()},
    )
    if not changed:
        return False
    released = await claim_service.free_booking_units(
        session, booking.showtime_id, booking.hold_id, booking.id
    )
    await repo.set_ticket_status(booking.id, TicketStatus.void)
    await coupon_service.release(session, booking.id)
    await emit(
        session,
        Topic.booking_expired,
        booking.id,
        {"booking_id": str(booking.id), "user_id": str(booking.user_id)},
    )
    await claim_service.units_released(session, booking.showtime_id, released, "booking_expired")
    return True


async def sweep(session: AsyncSession, batch: int = 500) -> tuple[int, int]:
    """Tidy up lapsed holds and pending bookings; returns (holds, bookings) expired.

    Their units are locked first, all at once (`claim_service.lock_claimable_units`): a
    buyer may be claiming some of them right now (lazy expiry), and the sweep must wait for
    that buyer before it holds a version row the buyer needs."""
    repo = BookingRepository(session)
    holds = await repo.lapsed_holds(batch)
    bookings = await repo.lapsed_bookings(batch)
    await claim_service.lock_claimable_units(
        session, hold_ids=[hold_id for hold_id, _ in holds], booking_ids=bookings
    )
    by_showtime: dict[uuid.UUID, list[int]] = {}
    for hold_id, showtime_id in holds:
        released = await claim_service.release_hold_units(session, showtime_id, hold_id)
        by_showtime.setdefault(showtime_id, []).extend(released)
    for showtime_id, unit_ids in by_showtime.items():
        await claim_service.units_released(session, showtime_id, unit_ids, "hold_expired")
    expired = 0
    for booking_id in bookings:
        expired += await expire_booking(session, booking_id)
    return len(holds), expired


async def list_bookings(
    session: AsyncSession, user: User, filters: BookingFilters, page: PageParams
) -> tuple[list[Booking], int]:
    """A buyer sees their own; an organizer also their events'; an admin all."""
    rows, total = await BookingRepository(session).list_bookings(
        visible_to(user, filters), page.limit, page.offset
    )
    return list(rows), total


def visible_to(user: User, filters: BookingFilters) -> BookingFilters:
    """`filters` narrowed to the bookings `user` may see."""
    if has_permission(user.role, Permission.booking_read_any):
        return filters
    if user.role is Role.organizer and filters.user_id is None:
        return replace(filters, organizer_id=user.id)
    return replace(filters, user_id=user.id)


async def list_user_bookings(
    session: AsyncSession, user: User, user_id: uuid.UUID, filters: BookingFilters, page: PageParams
) -> tuple[list[Booking], int]:
    """Another user's bookings: only for admins (404 otherwise, existence not leaked)."""
    if user_id != user.id and not has_permission(user.role, Permission.booking_read_any):
        raise errors.UserNotFound()
    repo = BookingRepository(session)
    if user_id != user.id and not await repo.user_exists(user_id):
        raise errors.UserNotFound()
    rows, total = await repo.list_bookings(
        replace(filters, user_id=user_id), page.limit, page.offset
    )
    return list(rows), total


async def present(
    session: AsyncSession, bookings: list[Booking], settings: Settings
) -> list[BookingOut]:
    """Bookings with their tickets; a pending booking past its window reads as expired."""
    tickets = await BookingRepository(session).tickets([b.id for b in bookings]) if bookings else {}
    now = utcnow()
    return [_presented(b, tickets.get(b.id, []), now, settings) for b in bookings]


def _presented(
    b: Booking | Written,
    tickets: Sequence[Ticket | WrittenTicket],
    now: datetime,
    settings: Settings,
) -> BookingOut:
    status = b.status
    if status is BookingStatus.pending_payment and b.expires_at < now:
        status = BookingStatus.expired
    return BookingOut(
        id=b.id,
        reference=reference.of(b.id),
        user_id=b.user_id,
        showtime_id=b.showtime_id,
        event_id=b.event_id,
        hold_id=b.hold_id,
        status=status,
        quantity=b.quantity,
        total_minor=b.total_minor,
        currency=b.currency,
        expires_at=b.expires_at,
        version=b.version,
        complimentary=b.complimentary,
        pricing=b.meta.get("pricing"),
        created_at=b.created_at,
        confirmed_at=b.confirmed_at,
        cancelled_at=b.cancelled_at,
        tickets=[
            # A ticket given to someone else shows its code to them alone.
            TicketOut(**ticket_fields(t, settings, show_code=t.holder_id in (None, b.user_id)))
            for t in tickets
        ],
    )


def ticket_fields(
    t: Ticket | WrittenTicket, settings: Settings, *, show_code: bool
) -> dict[str, Any]:
    """A ticket's `TicketOut` fields; its code only once issued, and only if `show_code`."""
    return {
        "id": t.id,
        "unit_id": t.unit_id,
        "section_id": t.section_id,
        "seat_id": t.seat_id,
        "label": t.label,
        "price_minor": t.price_minor,
        "currency": t.currency,
        "status": t.status,
        "code": current_code(settings, t)
        if show_code and t.status is TicketStatus.issued
        else None,
        "checked_in_at": t.checked_in_at,
        "holder_id": t.holder_id,
    }
