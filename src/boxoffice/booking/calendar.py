"""A booking as an iCalendar event (RFC 5545), for "add to calendar"."""

import uuid

from icalendar import Calendar
from icalendar import Event as CalendarEvent
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking import service
from boxoffice.booking.models import BookingStatus, TicketStatus
from boxoffice.booking.repository import BookingRepository
from boxoffice.catalog.models import Event, Showtime, ShowtimeStatus
from boxoffice.kit.time import utcnow
from boxoffice.venue.models import Venue

PRODID = "-//boxoffice//bookings//EN"


async def booking_ics(session: AsyncSession, user: User, booking_id: uuid.UUID) -> bytes:
    """The booking's showtime as one VEVENT. A cancelled, refunded or expired booking, or a
    cancelled showtime, is `STATUS:CANCELLED`; a moved showtime raises `SEQUENCE`, so a
    calendar that imported the file before updates its copy."""
    booking = await service.get_visible(session, user, booking_id)
    # The visibility check loaded the showtime and its event: these come from the session.
    showtime = await session.get_one(Showtime, booking.showtime_id)
    event = await session.get_one(Event, showtime.event_id)
    venue = await session.get_one(Venue, showtime.venue_id)
    tickets = (await BookingRepository(session).tickets([booking.id]))[booking.id]
    live = [t.label for t in tickets if t.status is TicketStatus.issued] or [
        t.label for t in tickets
    ]
    cancelled = showtime.status is ShowtimeStatus.cancelled or booking.status not in (
        BookingStatus.confirmed,
        BookingStatus.pending_payment,
    )
    entry = CalendarEvent()
    entry.add("uid", f"booking-{booking.id}@boxoffice")
    entry.add("dtstamp", utcnow())
    entry.add("dtstart", showtime.starts_at)
    entry.add("dtend", showtime.ends_at)
    entry.add("summary", event.title)
    entry.add("location", ", ".join(p for p in (venue.name, venue.address) if p))
    entry.add("geo", (venue.latitude, venue.longitude))
    entry.add(
        "description",
        f"Booking {booking.id} ({booking.status.value}): {len(live)} ticket(s): " + ", ".join(live),
    )
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    entry.add(
        "sequence",
        int(showtime.rescheduled_at.timestamp()) if showtime.rescheduled_at else 0,
    )
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    calendar.add_component(entry)
    ics: bytes = calendar.to_ical()
    return ics
