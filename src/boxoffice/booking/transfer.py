"""Passing a ticket on: the holder gives it to another account, which gets a new code.

A transfer moves the ticket's code to its next version (`tickets.py`), so the giver's copy
no longer gets in (`409 ticket_code_superseded` at the door). The ticket stays in the
buyer's booking: the money, refunds and the per-buyer limit stay with who paid. Like a
check-in, a transfer locks the booking (FOR SHARE) before it changes the ticket, and the
buyer's cancel locks it FOR UPDATE before it looks for transferred tickets
(`service.refuse_if_used`).
"""

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, bindparam, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.auth.repository import get_user_by_email
from boxoffice.booking import errors
from boxoffice.booking.models import Booking, BookingStatus, Ticket, TicketStatus
from boxoffice.booking.schemas import HeldTicket, TicketTransfer, TicketTransferCreate
from boxoffice.booking.service import ticket_fields
from boxoffice.booking.tickets import check_live, ticket_code
from boxoffice.catalog.models import Event, Showtime
from boxoffice.config import Settings
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.pagination import PageParams

_TICKET_READ = (
    select(
        Ticket.id,
        Ticket.booking_id,
        Ticket.unit_id,
        Ticket.label,
        Ticket.status,
        Ticket.checked_in_at,
        Ticket.holder_id,
        Ticket.code_version,
        Ticket.code,
        Booking.user_id,
        Booking.status.label("booking_status"),
        Booking.showtime_id,
        Booking.event_id,
        Showtime.starts_at,
        Event.allow_ticket_transfers,
        Event.organizer_id,
        func.now().label("now"),
    )
    .join(Booking, Booking.id == Ticket.booking_id)
    .join(Showtime, Showtime.id == Booking.showtime_id)
    .join(Event, Event.id == Booking.event_id)
    .where(Ticket.id == bindparam("ticket_id"))
)
_TICKET = _TICKET_READ.with_for_update(read=True, of=Booking)
# Conditional on the version read: of two transfers (or a transfer and a check-in) of one
# ticket, the ticket row's lock lets one through and the other matches nothing.
_MOVE = text(
    """
    UPDATE tickets SET holder_id = :holder_id, code_version = :version, code = :code
     WHERE id = :ticket_id AND status = 'issued' AND checked_in_at IS NULL
       AND code_version = :version - 1
    RETURNING id
    """
)


async def transfer(
    session: AsyncSession,
    user: User,
    ticket_id: uuid.UUID,
    data: TicketTransferCreate,
    settings: Settings,
) -> TicketTransfer:
    """Give the caller's ticket to the account with `data.to_email`."""
    row = (await session.execute(_TICKET, {"ticket_id": ticket_id})).one_or_none()
    # Only its holder may give it; to anyone else the ticket does not exist.
    if row is None or (row.holder_id or row.user_id) != user.id:
        raise errors.TicketNotFound("No such ticket of yours")
    _check_transferable(row)
    if not row.allow_ticket_transfers:
        raise errors.TicketTransfersNotAllowed()
    if row.starts_at <= row.now:
        raise errors.TicketTransferClosed()
    recipient = await get_user_by_email(session, str(data.to_email))
    if recipient is None or not recipient.is_active:
        raise errors.TransferRecipientUnknown()
    if recipient.id == user.id:
        raise errors.TransferToSelf()
    version = row.code_version + 1
    moved = (
        await session.execute(
            _MOVE,
            {
                "ticket_id": ticket_id,
                # Back to the buyer: held as bought again.
                "holder_id": None if recipient.id == row.user_id else recipient.id,
                "version": version,
                "code": ticket_code(settings, ticket_id, row.unit_id, version),
            },
        )
    ).first()
    if moved is None:
        # A check-in, a refund or another transfer of it committed first; say which.
        again = (await session.execute(_TICKET, {"ticket_id": ticket_id})).one_or_none()
        if again is None or (again.holder_id or again.user_id) != user.id:
            raise errors.TicketNotFound("No such ticket of yours")
        _check_transferable(again)
        raise errors.TicketNotFound("No such ticket of yours")
    out = TicketTransfer(
        ticket_id=ticket_id,
        booking_id=row.booking_id,
        showtime_id=row.showtime_id,
        label=row.label,
        from_user_id=user.id,
        to_user_id=recipient.id,
        transferred_at=row.now,
    )
    await emit(
        session,
        Topic.ticket_transferred,
        ticket_id,
        {
            **out.model_dump(mode="json"),
            # The receiver is the one told (`user_id`, as booking topics name theirs).
            "user_id": str(recipient.id),
            "from_name": user.full_name or "Someone",
            "event_id": str(row.event_id),
            "organizer_id": str(row.organizer_id),
        },
    )
    return out


async def held_code(session: AsyncSession, user: User, ticket_id: uuid.UUID) -> str:
    """The current code of a live ticket the caller holds: what the door scans.

    Whom `my_tickets` lists a ticket to is whom it answers: its receiver once given, else
    its buyer. To anyone else the ticket does not exist.
    """
    row = (await session.execute(_TICKET_READ, {"ticket_id": ticket_id})).one_or_none()
    if row is None or (row.holder_id or row.user_id) != user.id:
        raise errors.TicketNotFound("No such ticket of yours")
    check_live(row.status, row.booking_status)
    code: str = row.code
    return code


def _check_transferable(row: Row[*tuple[Any, ...]]) -> None:
    check_live(row.status, row.booking_status)
    if row.checked_in_at is not None:
        raise errors.TicketAlreadyCheckedIn(row.checked_in_at)


def held_by(user_id: uuid.UUID) -> ColumnElement[bool]:
    """Live tickets (issued, of a confirmed booking) that `user_id` holds: given to them, or
    bought by them and not given away. Over `tickets` joined to `bookings`."""
    return and_(
        Ticket.status == TicketStatus.issued,
        Booking.status == BookingStatus.confirmed,
        or_(
            Ticket.holder_id == user_id,
            Ticket.holder_id.is_(None) & (Booking.user_id == user_id),
        ),
    )


async def my_tickets(
    session: AsyncSession,
    user: User,
    page: PageParams,
    *,
    showtime_id: uuid.UUID | None = None,
    upcoming: bool = False,
) -> tuple[list[HeldTicket], int]:
    """The caller's live tickets, soonest showtime first, with their codes (`upcoming`:
    only for showtimes that have not ended)."""
    where = [held_by(user.id)]
    if showtime_id is not None:
        where.append(Booking.showtime_id == showtime_id)
    if upcoming:
        where.append(Showtime.ends_at > func.now())
    base = (
        select(Ticket, Booking.showtime_id, Booking.event_id, Showtime.starts_at)
        .join(Booking, Booking.id == Ticket.booking_id)
        .join(Showtime, Showtime.id == Booking.showtime_id)
        .where(*where)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await session.execute(
        base.order_by(Showtime.starts_at, Ticket.label, Ticket.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    return [
        HeldTicket(
            **ticket_fields(t, show_code=True),
            booking_id=t.booking_id,
            showtime_id=showtime,
            event_id=event,
            showtime_starts_at=starts_at,
        )
        for t, showtime, event, starts_at in rows
    ], total
