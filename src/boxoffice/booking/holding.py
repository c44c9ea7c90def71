"""Tickets as their holders see them: which live tickets a person holds, a ticket's code
for the door, and the holder's tickets of a showtime e-mailed again.

Who holds a ticket is one rule (`held_by`): whom it was given to, else its buyer; only
issued tickets of confirmed bookings. The tickets list, the QR image, the e-tickets in
e-mails and the account's export all go by it.
"""

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking import errors
from boxoffice.booking.models import (
    Booking,
    BookingStatus,
    Ticket,
    TicketStatus,
    TicketTransferOffer,
    TransferOfferStatus,
)
from boxoffice.booking.schemas import HeldTicket, TicketsEmailed
from boxoffice.booking.service import ticket_fields
from boxoffice.booking.tickets import check_live, ticket_code
from boxoffice.catalog.models import Event, Showtime
from boxoffice.config import Settings
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.pagination import PageParams
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.venue.models import Venue


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


def holder_of(row: Any) -> uuid.UUID:
    """Who holds the ticket of a row read with its `holder_id` and its booking's `user_id`:
    `held_by`'s rule, for a row already read (the status checks are the caller's)."""
    holder: uuid.UUID = row.holder_id or row.user_id
    return holder


async def my_tickets(
    session: AsyncSession,
    user: User,
    page: PageParams,
    settings: Settings,
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
        select(
            Ticket,
            Booking.showtime_id,
            Booking.event_id,
            Showtime.starts_at,
            TicketTransferOffer.to_email,
        )
        .join(Booking, Booking.id == Ticket.booking_id)
        .join(Showtime, Showtime.id == Booking.showtime_id)
        .outerjoin(
            TicketTransferOffer,
            (TicketTransferOffer.ticket_id == Ticket.id)
            & (TicketTransferOffer.status == TransferOfferStatus.open),
        )
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
            **ticket_fields(t, settings, show_code=True),
            booking_id=t.booking_id,
            showtime_id=showtime,
            event_id=event,
            showtime_starts_at=starts_at,
            offered_to=offered_to,
        )
        for t, showtime, event, starts_at, offered_to in rows
    ], total


async def held_code(
    session: AsyncSession, user: User, ticket_id: uuid.UUID, settings: Settings
) -> str:
    """The current code of a live ticket the caller holds: what the door scans.

    Whom `my_tickets` lists a ticket to is whom it answers: its receiver once given, else
    its buyer. To anyone else the ticket does not exist.
    """
    row = (
        await session.execute(
            select(
                Ticket.unit_id,
                Ticket.code_version,
                Ticket.status,
                Ticket.holder_id,
                Booking.user_id,
                Booking.status.label("booking_status"),
            )
            .join(Booking, Booking.id == Ticket.booking_id)
            .where(Ticket.id == ticket_id)
        )
    ).one_or_none()
    if row is None or holder_of(row) != user.id:
        raise errors.TicketNotFound("No such ticket of yours")
    check_live(row.status, row.booking_status)
    return ticket_code(settings, ticket_id, row.unit_id, row.code_version)


async def email_tickets(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    settings: Settings,
    limiter: RateLimiter,
) -> TicketsEmailed:
    """E-mail the caller the tickets they hold for a showtime (again): the worker sends them
    as the e-tickets of a confirmation (`notification.e_tickets`), read when it goes."""
    facts = (
        await session.execute(
            select(
                func.count(Ticket.id),
                Showtime.starts_at,
                Event.id,
                Event.title,
                Venue.name,
            )
            .select_from(Ticket)
            .join(Booking, Booking.id == Ticket.booking_id)
            .join(Showtime, Showtime.id == Booking.showtime_id)
            .join(Event, Event.id == Booking.event_id)
            .join(Venue, Venue.id == Showtime.venue_id)
            .where(held_by(user.id), Booking.showtime_id == showtime_id)
            .group_by(Showtime.starts_at, Event.id, Event.title, Venue.name)
        )
    ).one_or_none()
    if facts is None:
        raise errors.TicketNotFound("You hold no live ticket for this showtime")
    count, starts_at, event_id, title, venue_name = facts
    await enforce(
        limiter,
        f"tickets-email:user:{user.id}",
        limit=settings.booking.ticket_emails_per_hour,
        window_seconds=3600,
        what="ticket e-mails asked for",
    )
    await emit(
        session,
        Topic.tickets_requested,
        showtime_id,
        {
            "user_id": str(user.id),
            "showtime_id": str(showtime_id),
            "event_id": str(event_id),
            "event_title": title,
            "venue_name": venue_name,
            "starts_at": starts_at.isoformat(),
        },
    )
    return TicketsEmailed(showtime_id=showtime_id, tickets=count, email=user.email)
