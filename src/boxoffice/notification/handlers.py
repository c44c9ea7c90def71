"""What each domain event means for people: topic -> the notifications it causes.

A handler reads the outbox event (and, where needed, the database) and returns intents:
which user gets which kind of notification, with the data its template and clients need.
Booking-related topics carry `user_id` and a booking summary in their payload.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking import reference
from boxoffice.booking.models import Booking
from boxoffice.catalog.models import Event, Showtime, ShowtimeStatus
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.notification import repository
from boxoffice.notification.models import NotificationKind


@dataclass(frozen=True, slots=True)
class Intent:
    user_id: uuid.UUID
    kind: NotificationKind
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[AsyncSession, OutboxEvent], Awaitable[list[Intent]]]


def as_uuid(value: object) -> uuid.UUID | None:
    """`value` as a UUID, or None when it is missing or not one (payloads are JSON)."""
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


# Topics whose aggregate is the catalog event itself.
_EVENT_AGGREGATES = {Topic.event_published, Topic.event_cancelled, Topic.sale_started}


def _event_id(event: OutboxEvent) -> uuid.UUID | None:
    """The catalog event an outbox event is about: `event_id` in the payload, else the
    aggregate itself for event-level topics."""
    from_payload = as_uuid(event.payload.get("event_id"))
    if from_payload is not None or event.topic not in _EVENT_AGGREGATES:
        return from_payload
    return as_uuid(event.aggregate_id)


async def _with_booking_facts(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
    """Fill what the templates name (event title, reference, tickets, amount) from the
    booking the payload points at, where the emitting domain did not carry it."""
    data = dict(payload)
    booking_id = as_uuid(data.get("booking_id"))
    booking = await session.get(Booking, booking_id) if booking_id else None
    if booking is None:
        return data
    data.setdefault("booking_reference", reference.of(booking.id))
    data.setdefault("ticket_count", booking.quantity)
    data.setdefault("amount_minor", booking.total_minor)
    data.setdefault("currency", booking.currency)
    data.setdefault("event_id", str(booking.event_id))
    if "event_title" not in data:
        catalog_event = await session.get(Event, booking.event_id)
        if catalog_event is not None:
            data["event_title"] = catalog_event.title
    return data


def _user_topic(kind: NotificationKind) -> Handler:
    """For topics about one user's booking, payment, refund or waitlist offer."""

    async def handle(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
        user_id = as_uuid(event.payload.get("user_id"))
        if user_id is None:
            raise ValueError(f"{event.topic} payload has no valid user_id")
        return [Intent(user_id, kind, await _with_booking_facts(session, event.payload))]

    return handle


async def _catalog_event(session: AsyncSession, event: OutboxEvent) -> Event:
    event_id = _event_id(event)
    catalog_event = await session.get(Event, event_id) if event_id else None
    if catalog_event is None:
        raise LookupError(f"{event.topic}: event {event_id} not found")
    return catalog_event


def _event_data(catalog_event: Event, extra: dict[str, Any]) -> dict[str, Any]:
    return {**extra, "event_id": str(catalog_event.id), "event_title": catalog_event.title}


async def _on_event_published(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    catalog_event = await _catalog_event(session, event)
    organizer = await session.get(User, catalog_event.organizer_id)
    data = _event_data(catalog_event, {})
    data["organizer_id"] = str(catalog_event.organizer_id)
    data["organizer_name"] = (organizer.full_name if organizer else "") or "An organizer"
    followers = await repository.subscriber_ids(
        session, repository.FOLLOWS, catalog_event.organizer_id
    )
    return [Intent(user_id, NotificationKind.new_event, data) for user_id in followers]


async def _on_sale_started(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    catalog_event = await _catalog_event(session, event)
    data = _event_data(catalog_event, {})
    interested = await repository.subscriber_ids(session, repository.INTERESTS, catalog_event.id)
    return [Intent(user_id, NotificationKind.sale_started, data) for user_id in interested]


def _listed_users(event: OutboxEvent) -> list[uuid.UUID]:
    """`user_ids` in the payload: ticket holders, supplied by the emitting domain."""
    raw = event.payload.get("user_ids") or []
    return [u for u in (as_uuid(v) for v in raw) if u is not None]


async def _on_event_cancelled(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    catalog_event = await _catalog_event(session, event)
    data = _event_data(catalog_event, dict(event.payload))
    data.pop("user_ids", None)
    users = dict.fromkeys(
        [
            *_listed_users(event),
            *await repository.subscriber_ids(session, repository.INTERESTS, catalog_event.id),
        ]
    )
    return [Intent(user_id, NotificationKind.event_cancelled, data) for user_id in users]


async def _on_showtime_changed(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    """Holders, resolved at delivery, and buyers still paying, when the start moved (a new
    end alone tells nobody)."""
    if not event.payload.get("rescheduled", True):
        return []
    showtime_id = as_uuid(event.payload.get("showtime_id"))
    holders = (
        await repository.showtime_holder_ids(session, showtime_id, paying=True)
        if showtime_id
        else []
    )
    data = {k: v for k, v in event.payload.items() if k != "user_ids"}
    return [
        Intent(user_id, NotificationKind.showtime_changed, data)
        for user_id in dict.fromkeys([*_listed_users(event), *holders])
    ]


async def _on_showtime_cancelled(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    """Holders named by the cancelling domain (buyers, and whom tickets were given to)."""
    showtime_id = as_uuid(event.payload.get("showtime_id"))
    showtime = await session.get(Showtime, showtime_id) if showtime_id else None
    if showtime is None:
        raise LookupError(f"{event.topic}: showtime {showtime_id} not found")
    catalog_event = await session.get(Event, showtime.event_id)
    data = {k: v for k, v in event.payload.items() if k != "user_ids"}
    data["starts_at"] = showtime.starts_at.isoformat()
    data["event_title"] = catalog_event.title if catalog_event else ""
    return [
        Intent(user_id, NotificationKind.showtime_cancelled, data)
        for user_id in dict.fromkeys(_listed_users(event))
    ]


async def _on_ticket_transferred(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    """The receiver is told what they got; nothing of the buyer's booking (its amount, its
    reference) reaches them."""
    user_id = as_uuid(event.payload.get("user_id"))
    if user_id is None:
        raise ValueError(f"{event.topic} payload has no valid user_id")
    catalog_event = await _catalog_event(session, event)
    shown = ("ticket_id", "label", "showtime_id", "from_name")
    data = _event_data(catalog_event, {k: event.payload.get(k) for k in shown})
    return [Intent(user_id, NotificationKind.ticket_received, data)]


async def _on_ticket_voided(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    """The holder of a given ticket that was voided; not when its showtime was cancelled,
    which told them already (`showtime_cancelled`, `event_cancelled`)."""
    user_id = as_uuid(event.payload.get("user_id"))
    if user_id is None:
        raise ValueError(f"{event.topic} payload has no valid user_id")
    showtime_id = as_uuid(event.payload.get("showtime_id"))
    showtime = await session.get(Showtime, showtime_id) if showtime_id else None
    if showtime is not None and showtime.status is ShowtimeStatus.cancelled:
        return []
    catalog_event = await _catalog_event(session, event)
    shown = ("ticket_id", "label", "showtime_id", "reason")
    data = _event_data(catalog_event, {k: event.payload.get(k) for k in shown})
    return [Intent(user_id, NotificationKind.ticket_voided, data)]


async def _on_push(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    """Admin push: the audience is resolved at delivery time from the payload."""
    audience = event.payload["audience"]
    target = as_uuid(audience.get("id"))
    if target is None:
        raise ValueError("push audience has no valid id")
    kind = audience["type"]
    if kind == "user":
        users = [target]
    elif kind == "organizer_followers":
        users = await repository.subscriber_ids(session, repository.FOLLOWS, target)
    elif kind == "event_interested":
        users = await repository.subscriber_ids(session, repository.INTERESTS, target)
    elif kind == "showtime_holders":
        users = await repository.showtime_holder_ids(session, target)
    else:
        raise ValueError(f"unknown push audience {kind!r}")
    data = {"title": event.payload["title"], "body": event.payload["body"]}
    data.update(event.payload.get("data") or {})
    return [Intent(user_id, NotificationKind.announcement, data) for user_id in users]


async def _on_showtime_reminder(session: AsyncSession, event: OutboxEvent) -> list[Intent]:
    """Holders are resolved at delivery, so a booking confirmed since still gets reminded."""
    showtime_id = as_uuid(event.payload.get("showtime_id"))
    if showtime_id is None:
        raise ValueError("showtime.reminder payload has no valid showtime_id")
    users = await repository.showtime_holder_ids(session, showtime_id)
    return [
        Intent(user_id, NotificationKind.showtime_reminder, dict(event.payload))
        for user_id in users
    ]


HANDLERS: dict[str, Handler] = {
    Topic.booking_confirmed: _user_topic(NotificationKind.booking_confirmed),
    Topic.booking_cancelled: _user_topic(NotificationKind.booking_cancelled),
    Topic.booking_expired: _user_topic(NotificationKind.booking_expired),
    Topic.payment_failed: _user_topic(NotificationKind.payment_failed),
    Topic.refund_issued: _user_topic(NotificationKind.refund_issued),
    Topic.waitlist_offer_made: _user_topic(NotificationKind.waitlist_offer),
    Topic.waitlist_offer_expired: _user_topic(NotificationKind.waitlist_offer_expired),
    Topic.waitlist_closed: _user_topic(NotificationKind.waitlist_closed),
    Topic.ticket_transferred: _on_ticket_transferred,
    Topic.ticket_voided: _on_ticket_voided,
    Topic.event_published: _on_event_published,
    Topic.sale_started: _on_sale_started,
    Topic.event_cancelled: _on_event_cancelled,
    Topic.showtime_changed: _on_showtime_changed,
    Topic.showtime_cancelled: _on_showtime_cancelled,
    Topic.notification_pushed: _on_push,
    Topic.showtime_reminder: _on_showtime_reminder,
    Topic.tickets_requested: _user_topic(NotificationKind.tickets_requested),
}
"""Topics absent here (e.g. inventory.units_released) notify nobody; they still reach
reactions (`reactions.REACTIONS`), webhooks and the broker."""


async def organizer_of(session: AsyncSession, event: OutboxEvent) -> uuid.UUID | None:
    """The organizer whose webhooks receive this event: `organizer_id` in the payload, else
    the organizer of the catalog event it is about."""
    organizer_id = as_uuid(event.payload.get("organizer_id"))
    if organizer_id is not None:
        return organizer_id
    event_id = _event_id(event)
    catalog_event = await session.get(Event, event_id) if event_id else None
    return catalog_event.organizer_id if catalog_event else None
