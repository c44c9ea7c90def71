"""SQL of the notification domain."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from boxoffice.auth.models import User
from boxoffice.booking.models import Booking, BookingStatus, Ticket, TicketStatus
from boxoffice.catalog.models import Event, EventStatus, Showtime, ShowtimeStatus
from boxoffice.kit.pagination import PageParams
from boxoffice.notification.models import (
    EventInterest,
    Notification,
    NotificationPreference,
    OrganizerFollow,
    SaleAnnouncement,
    ShowtimeReminder,
    WebhookDelivery,
    WebhookEndpoint,
)
from boxoffice.venue.models import Venue

# --- notifications ----------------------------------------------------------------------


async def insert_notifications(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert, skipping any (user, source event, kind) that exists: redelivery is harmless."""
    if not rows:
        return 0
    result = await session.execute(
        insert(Notification)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["user_id", "source_event_id", "kind"])
        .returning(Notification.id)
    )
    return len(result.all())


async def list_notifications(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams, *, unread_only: bool
) -> tuple[Sequence[Notification], int]:
    where = [Notification.user_id == user_id]
    if unread_only:
        where.append(Notification.read_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(Notification).where(*where))
    items = await session.scalars(
        select(Notification)
        .where(*where)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return items.all(), total or 0


async def get_notification(
    session: AsyncSession, notification_id: uuid.UUID
) -> Notification | None:
    return await session.get(Notification, notification_id)


async def count_unread(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return count or 0


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .returning(Notification.id)
    )
    return len(result.all())


# --- preferences ------------------------------------------------------------------------


async def get_preferences(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, dict[str, bool]]]:
    rows = await session.execute(
        select(NotificationPreference.user_id, NotificationPreference.channels).where(
            NotificationPreference.user_id.in_(list(user_ids))
        )
    )
    return dict(rows.all())


async def save_preferences(
    session: AsyncSession, user_id: uuid.UUID, channels: dict[str, dict[str, bool]]
) -> None:
    stmt = insert(NotificationPreference).values(user_id=user_id, channels=channels)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"channels": stmt.excluded.channels, "updated_at": func.now()},
        )
    )


async def recipients(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, dict[str, dict[str, bool]] | None]]:
    """Active users among `user_ids`: their e-mail and stored preferences (None: defaults)."""
    rows = await session.execute(
        select(User.id, User.email, NotificationPreference.channels)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(User.id.in_(list(user_ids)), User.is_active)
    )
    return {user_id: (email, channels) for user_id, email, channels in rows.all()}


async def showtime_time_zones(
    session: AsyncSession, showtime_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The time zone of each showtime's venue (an IANA name)."""
    wanted = list(showtime_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Showtime.id, Venue.timezone)
        .join(Venue, Venue.id == Showtime.venue_id)
        .where(Showtime.id.in_(wanted))
    )
    return {showtime_id: str(zone) for showtime_id, zone in rows.all()}


# --- follows and interest ---------------------------------------------------------------
# Both are a user's subscription to a target (an organizer, an event): one row per pair,
# primary key (user_id, target).

S = TypeVar("S", OrganizerFollow, EventInterest)
T = TypeVar("T", User, Event)


@dataclass(frozen=True)
class Subscription(Generic[S, T]):
    model: type[S]
    target: InstrumentedAttribute[uuid.UUID]
    """The row's column naming the target."""
    target_model: type[T]


FOLLOWS = Subscription(OrganizerFollow, OrganizerFollow.organizer_id, User)
INTERESTS = Subscription(EventInterest, EventInterest.event_id, Event)


async def subscribe(
    session: AsyncSession, kind: Subscription[S, T], user_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    """True when new, False when the user was subscribed already."""
    result = await session.execute(
        insert(kind.model)
        .values({"user_id": user_id, kind.target.key: target_id})
        .on_conflict_do_nothing()
        .returning(kind.model.user_id)
    )
    return result.first() is not None


async def unsubscribe(
    session: AsyncSession, kind: Subscription[S, T], user_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    """True when a subscription was removed."""
    result = await session.execute(
        delete(kind.model)
        .where(kind.model.user_id == user_id, kind.target == target_id)
        .returning(kind.model.user_id)
    )
    return result.first() is not None


async def subscriptions(
    session: AsyncSession, kind: Subscription[S, T], user_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[tuple[S, T]], int]:
    """A user's subscriptions with their targets, newest first."""
    where = kind.model.user_id == user_id
    total = await session.scalar(select(func.count()).select_from(kind.model).where(where))
    rows = await session.execute(
        select(kind.model, kind.target_model)
        .join(kind.target_model, kind.target_model.id == kind.target)
        .where(where)
        .order_by(kind.model.created_at.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return [(row[0], row[1]) for row in rows], total or 0


async def subscriber_ids(
    session: AsyncSession, kind: Subscription[S, T], target_id: uuid.UUID
) -> list[uuid.UUID]:
    rows = await session.scalars(select(kind.model.user_id).where(kind.target == target_id))
    return list(rows)


async def showtime_holder_ids(
    session: AsyncSession, showtime_id: uuid.UUID, *, paying: bool = False
) -> list[uuid.UUID]:
    """Users holding a live ticket for the showtime: its buyer, or whom it was given to
    (`paying`: also buyers whose booking still waits for payment)."""
    statuses, tickets = [BookingStatus.confirmed], [TicketStatus.issued]
    if paying:
        statuses.append(BookingStatus.pending_payment)
        tickets.append(TicketStatus.pending)
    rows = await session.scalars(
        select(func.coalesce(Ticket.holder_id, Booking.user_id))
        .join(Booking, Booking.id == Ticket.booking_id)
        .where(
            Booking.showtime_id == showtime_id,
            Booking.status.in_(statuses),
            Ticket.status.in_(tickets),
        )
        .distinct()
    )
    return list(rows)


async def forget_reminder(session: AsyncSession, showtime_id: uuid.UUID) -> None:
    """The showtime's holders are to be reminded again (it moved)."""
    await session.execute(
        delete(ShowtimeReminder).where(ShowtimeReminder.showtime_id == showtime_id)
    )


async def claim_due_reminders(
    session: AsyncSession, now: datetime, until: datetime
) -> list[tuple[uuid.UUID, datetime, str, str]]:
    """Record (once) every scheduled showtime of a published event starting before `until`;
    returns (showtime id, start, event title, venue name) of those newly recorded."""
    due = (
        select(Showtime.id)
        .join(Event, Event.id == Showtime.event_id)
        .where(
            Showtime.status == ShowtimeStatus.scheduled,
            Event.status == EventStatus.published,
            Showtime.starts_at > now,
            Showtime.starts_at <= until,
        )
    )
    claimed = (
        (
            await session.execute(
                insert(ShowtimeReminder)
                .from_select(["showtime_id"], due)
                .on_conflict_do_nothing()
                .returning(ShowtimeReminder.showtime_id)
            )
        )
        .scalars()
        .all()
    )
    if not claimed:
        return []
    rows = await session.execute(
        select(Showtime.id, Showtime.starts_at, Event.title, Venue.name)
        .join(Event, Event.id == Showtime.event_id)
        .join(Venue, Venue.id == Showtime.venue_id)
        .where(Showtime.id.in_(claimed))
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows.all()]


async def claim_sale_announcements(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Record (once) every published event whose sale has started and not yet ended.

    The primary key of `sale_announcements` makes each event's row appear once, even with
    several workers running this at the same moment.
    """
    due = select(Event.id).where(
        Event.status == EventStatus.published,
        Event.sale_starts_at <= now,
        (Event.sale_ends_at.is_(None)) | (Event.sale_ends_at > now),
    )
    result = await session.execute(
        insert(SaleAnnouncement)
        .from_select(["event_id"], due)
        .on_conflict_do_nothing()
        .returning(SaleAnnouncement.event_id)
    )
    return list(result.scalars())


# --- webhooks ---------------------------------------------------------------------------


async def list_endpoints(
    session: AsyncSession, organizer_id: uuid.UUID | None, page: PageParams
) -> tuple[Sequence[WebhookEndpoint], int]:
    where = [] if organizer_id is None else [WebhookEndpoint.organizer_id == organizer_id]
    total = await session.scalar(select(func.count()).select_from(WebhookEndpoint).where(*where))
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(*where)
        .order_by(WebhookEndpoint.created_at.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), total or 0


async def active_endpoints_for(
    session: AsyncSession, organizer_id: uuid.UUID, topic: str
) -> Sequence[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.organizer_id == organizer_id,
            WebhookEndpoint.is_active,
            (func.jsonb_array_length(WebhookEndpoint.topics) == 0)
            | WebhookEndpoint.topics.contains([topic]),
        )
    )
    return rows.all()


async def insert_webhook_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(
            insert(WebhookDelivery)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        )


async def list_deliveries(
    session: AsyncSession, endpoint_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[WebhookDelivery], int]:
    where = WebhookDelivery.endpoint_id == endpoint_id
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(where)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), total or 0


async def lock_delivery(
    session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    """The endpoint's delivery, locked; None if it is not the endpoint's. Waits for a sender
    that has it claimed, so its attempt is recorded before anyone decides on it."""
    delivery: WebhookDelivery | None = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id)
        .with_for_update()
    )
    return delivery


async def claim_due_deliveries(
    session: AsyncSession, now: datetime, batch: int
) -> Sequence[tuple[WebhookDelivery, WebhookEndpoint]]:
    rows = await session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.is_active,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(batch)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    return rows.all()
