"""Wording of each notification kind: title, plain-text body and HTML body.

Templates use `$name` placeholders (string.Template) filled from the notification's data;
a placeholder without a value is left as is rather than failing a delivery. HTML bodies
escape every value. Amounts read in their currency's units, and instants in the venue's
time zone (`Sat 5 Dec 2026, 19:30 CET`); the data itself keeps ISO 8601 and minor units.
"""

import html
from dataclasses import dataclass
from datetime import datetime
from string import Template
from typing import Any

from boxoffice.kit.money import format_minor
from boxoffice.kit.time import for_people
from boxoffice.notification.models import NotificationKind


@dataclass(frozen=True, slots=True)
class NotificationTemplate:
    title: str
    text: str


TEMPLATES: dict[NotificationKind, NotificationTemplate] = {
    NotificationKind.booking_confirmed: NotificationTemplate(
        "Booking confirmed: $event_title",
        "Your booking $booking_reference for $event_title is confirmed ($ticket_count "
        "ticket(s), $amount). See you there!",
    ),
    NotificationKind.booking_cancelled: NotificationTemplate(
        "Booking cancelled: $event_title",
        "Your booking $booking_reference for $event_title was cancelled.",
    ),
    NotificationKind.booking_expired: NotificationTemplate(
        "Booking expired: $event_title",
        "Your booking $booking_reference for $event_title expired before payment; "
        "the seats were released.",
    ),
    NotificationKind.payment_failed: NotificationTemplate(
        "Payment failed: $event_title",
        "The payment for booking $booking_reference ($amount) failed. Your seats stay held "
        "until the booking expires: try again with another payment method.",
    ),
    NotificationKind.refund_issued: NotificationTemplate(
        "Refund issued: $event_title",
        "We refunded $amount for booking $booking_reference.",
    ),
    NotificationKind.event_cancelled: NotificationTemplate(
        "Event cancelled: $event_title",
        "$event_title has been cancelled. Ticket holders are refunded.",
    ),
    NotificationKind.showtime_changed: NotificationTemplate(
        "Showtime moved: $event_title",
        "$event_title at $venue_name, which you hold tickets for, has moved: it now starts at "
        "$local_starts_at (it was $previous_local_starts_at). Your tickets stay valid. If the "
        "new time does not suit you, the buyer can cancel the booking for a full refund "
        "until it starts.",
    ),
    NotificationKind.sale_started: NotificationTemplate(
        "Tickets on sale: $event_title",
        "Tickets for $event_title, which you are interested in, are on sale now.",
    ),
    NotificationKind.new_event: NotificationTemplate(
        "New from $organizer_name: $event_title",
        "$organizer_name, whom you follow, published a new event: $event_title.",
    ),
    NotificationKind.waitlist_offer: NotificationTemplate(
        "Seats available: $event_title",
        "Seats you were waiting for at $event_title are yours to book until $offer_expires_at.",
    ),
    NotificationKind.waitlist_offer_expired: NotificationTemplate(
        "Offer expired: $event_title",
        "The seats held for you at $event_title were not booked in time and went to the next "
        "person waiting. Join the waitlist again to wait for more.",
    ),
    NotificationKind.waitlist_closed: NotificationTemplate(
        "Waitlist closed: $event_title",
        "Sales for $event_title have ended, so your place on its waitlist is closed: no more "
        "seats will be offered.",
    ),
    NotificationKind.announcement: NotificationTemplate("$title", "$body"),
    NotificationKind.showtime_cancelled: NotificationTemplate(
        "Showtime cancelled: $event_title",
        "The $starts_at showtime of $event_title was cancelled. Paid tickets are refunded; "
        "seats held for you and places on its waitlist are given up.",
    ),
    NotificationKind.ticket_voided: NotificationTemplate(
        "Ticket cancelled: $event_title",
        "The ticket for $event_title ($label) that was passed to you has been cancelled; "
        "it no longer gets in.",
    ),
    NotificationKind.ticket_received: NotificationTemplate(
        "A ticket for you: $event_title",
        "$from_name passed you a ticket for $event_title ($label). It is under your tickets, "
        "with its code for the door.",
    ),
    NotificationKind.tickets_requested: NotificationTemplate(
        "Your tickets: $event_title at $starts_at",
        "Here are your tickets for $event_title at $venue_name, starting at $starts_at, "
        "as you asked.",
    ),
    NotificationKind.showtime_reminder: NotificationTemplate(
        "Reminder: $event_title at $starts_at",
        "$event_title starts at $starts_at at $venue_name. Your tickets are in your bookings.",
    ),
}


_FOOTER = '<p style="color:#888;font-size:small">boxoffice</p></body></html>'


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    text: str
    html: str

    def extended(self, text: str, html_block: str) -> "Rendered":
        """With `text` after the text and `html_block` (already escaped) before the footer."""
        return Rendered(
            title=self.title,
            text=self.text + text,
            html=self.html.removesuffix(_FOOTER) + html_block + _FOOTER,
        )


_INSTANTS = ("starts_at", "local_starts_at", "previous_local_starts_at", "offer_expires_at")
"""The placeholders that hold an instant (ISO 8601 in the data)."""


def _amount(data: dict[str, Any]) -> str | None:
    minor, currency = data.get("amount_minor"), data.get("currency")
    if isinstance(minor, int) and isinstance(currency, str):
        return format_minor(minor, currency)
    return None


def _instant(value: Any, time_zone: str | None) -> str | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return for_people(value, time_zone)
    return None


def render(kind: NotificationKind, data: dict[str, Any], time_zone: str | None = None) -> Rendered:
    """Fill the kind's template from `data` (strings only; others are converted); instants
    are shown in `time_zone` (the venue's), else in the offset they carry."""
    values = {k: str(v) for k, v in data.items() if v is not None}
    amount = _amount(data)
    if amount and "amount" not in values:
        values["amount"] = amount
    for key in _INSTANTS:
        shown = _instant(data.get(key), time_zone)
        if shown is not None:
            values[key] = shown
    template = TEMPLATES[kind]
    title = Template(template.title).safe_substitute(values)[:200]
    text = Template(template.text).safe_substitute(values)
    escaped = {k: html.escape(v) for k, v in values.items()}
    body_html = Template(html.escape(template.text, quote=False)).safe_substitute(escaped)
    page = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h2>{html.escape(title)}</h2><p>{body_html}</p>{_FOOTER}"
    )
    return Rendered(title=title, text=text, html=page)
