"""E-tickets: what an e-mail telling someone they have tickets carries.

For a confirmed booking (`booking_confirmed`), a ticket given to someone
(`ticket_received`), the reminder before a showtime (`showtime_reminder`) and a holder's
request for their tickets (`tickets_requested`): the show (event, venue and address, start
in the venue's time zone) and each ticket the recipient holds there, read when the e-mail is
sent, as its seat and code in the text and as a QR image of its code in the HTML (inline, so
it shows at the door without the app);
for a buyer's confirmation also the booking's calendar file. A ticket given away or voided
before the e-mail goes is not in it.
"""

from html import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking.calendar import booking_ics
from boxoffice.booking.holding import held_by
from boxoffice.booking.models import Booking, Ticket
from boxoffice.booking.tickets import ImageFormat, qr_image, signed_code, ticket_key
from boxoffice.catalog.models import Event, Showtime
from boxoffice.config import Settings
from boxoffice.kit.time import for_people
from boxoffice.notification.email import Attachment
from boxoffice.notification.handlers import Intent, as_uuid
from boxoffice.notification.models import NotificationKind
from boxoffice.notification.templates import Rendered
from boxoffice.venue.models import Venue

QR_SCALE = 6
"""Pixels per QR module in the e-mail: about 200 px for a ticket code, sharp on a phone."""


async def enclose(
    session: AsyncSession, intent: Intent, rendered: Rendered, settings: Settings
) -> tuple[Rendered, tuple[Attachment, ...]]:
    """The e-mail's content with the recipient's e-tickets, and its attachments; as it was,
    with none, for other kinds or when they hold no live ticket there (any more)."""
    booking_id = None
    if intent.kind is NotificationKind.booking_confirmed:
        booking_id = as_uuid(intent.data.get("booking_id"))
        which = Booking.id == booking_id
    elif intent.kind is NotificationKind.ticket_received:
        which = Ticket.id == as_uuid(intent.data.get("ticket_id"))
    elif intent.kind in (NotificationKind.showtime_reminder, NotificationKind.tickets_requested):
        which = Booking.showtime_id == as_uuid(intent.data.get("showtime_id"))
    else:
        return rendered, ()
    rows = (
        await session.execute(
            select(
                Ticket.id,
                Ticket.label,
                Ticket.unit_id,
                Ticket.code_version,
                Event.title,
                Venue.name,
                Venue.address,
                Venue.timezone,
                Showtime.starts_at,
            )
            .join(Booking, Booking.id == Ticket.booking_id)
            .join(Showtime, Showtime.id == Booking.showtime_id)
            .join(Event, Event.id == Booking.event_id)
            .join(Venue, Venue.id == Showtime.venue_id)
            .where(held_by(intent.user_id), which)
            .order_by(Ticket.label, Ticket.id)
        )
    ).all()
    if not rows:
        return rendered, ()
    key = ticket_key(settings)
    tickets = [
        (ticket, label, signed_code(key, ticket, unit, version))
        for ticket, label, unit, version, *_show in rows
    ]
    images = [
        Attachment(
            filename=f"ticket-{index}.png",
            media_type=ImageFormat.png.media_type,
            data=qr_image(code, ImageFormat.png, QR_SCALE),
            inline_id=f"ticket-{ticket.hex}@boxoffice",
        )
        for index, (ticket, _label, code) in enumerate(tickets, start=1)
    ]
    title, venue, address, zone, starts_at = rows[0][4:]
    where = f"{venue}, {address}" if address else venue
    when = for_people(starts_at, zone)
    text = (
        f"\n\nYour tickets for {title}: {where}, {when}.\n"
        "Show the QR code (or give the code) at the door.\n"
        + "".join(f"- {label}: {code}\n" for _ticket, label, code in tickets)
    )
    html_block = (
        f"<h3>Your tickets for {escape(title)}</h3>"
        f"<p>{escape(where)}<br>{escape(when)}</p>"
        + "".join(
            f'<div style="margin:1em 0"><p><b>{escape(label)}</b></p>'
            f'<img src="cid:{image.inline_id}" alt="QR code of ticket {escape(label)}">'
            f'<p><code style="font-size:small">{escape(code)}</code></p></div>'
            for (_ticket, label, code), image in zip(tickets, images, strict=True)
        )
    )
    attachments = list(images)
    # A buyer's confirmation also carries the booking's calendar file.
    if booking_id is not None and (user := await session.get(User, intent.user_id)) is not None:
        attachments.append(
            Attachment(
                filename="booking.ics",
                media_type="text/calendar",
                data=await booking_ics(session, user, booking_id),
            )
        )
    return rendered.extended(text, html_block), tuple(attachments)
