"""Catalog rules: events and their lifecycle, showtimes with price tiers (reads: discovery.py)."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission, manages_organizer
from boxoffice.catalog import schemas
from boxoffice.catalog.errors import (
    EventCancelled,
    EventHasNoShowtimes,
    EventHasSales,
    EventNotFound,
    InvalidEventTransition,
    InvalidPriceTiers,
    InvalidShowtimeTimes,
    NotEventOwner,
    PresaleInvalid,
    PriceTierNotFound,
    ShowtimeCancelled,
    ShowtimeNotFound,
    ShowtimeStarted,
    VenueHasNoPlaces,
)
from boxoffice.catalog.models import (
    Event,
    EventFeeChange,
    EventStatus,
    PriceTier,
    PriceTierChange,
    Showtime,
    ShowtimeStatus,
)
from boxoffice.catalog.repository import (
    EventRepository,
    ShowtimeRepository,
)
from boxoffice.inventory.service import (
    create_showtime_inventory,
    event_has_sales,
    showtime_availability,
)
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.time import utcnow
from boxoffice.payment.pricing import FeePolicy, ticket_fee
from boxoffice.venue import service as venue_service
from boxoffice.venue.layout import seats_for_capacity
from boxoffice.venue.models import SectionKind
from boxoffice.venue.repository import VenueRepository
from boxoffice.venue.schemas import SeatIn, SectionCreate, VenueCreate

QUICK_FORM_SECTION = "General"


# --- visibility and ownership -------------------------------------------------------------


def can_manage(user: User | None, event: Event) -> bool:
    if user is None:
        return False
    return manages_organizer(user, event.organizer_id)


def _can_see(user: User | None, event: Event) -> bool:
    if event.status is not EventStatus.draft:
        return True
    return (
        user is not None
        and has_permission(user.role, Permission.catalog_read_drafts)
        and can_manage(user, event)
    )


SettleCancelled = Callable[
    [AsyncSession, User, Sequence[uuid.UUID]], Awaitable[Sequence[uuid.UUID]]
]
"""Refunds or cancels the bookings of cancelled showtimes; returns the buyers' user ids."""


async def get_visible_event(session: AsyncSession, user: User | None, event_id: uuid.UUID) -> Event:
    """The event if the caller may see it; drafts are 404 to everyone but their managers."""
    event = await EventRepository(session).get(event_id)
    if event is None or not _can_see(user, event):
        raise EventNotFound(f"No event with id {event_id}")
    return event


async def _event_to_manage(
    session: AsyncSession, user: User, event_id: uuid.UUID, *, lock: bool = True
) -> Event:
    event = await EventRepository(session).get(event_id, for_update=lock)
    if event is None or not _can_see(user, event):
        raise EventNotFound(f"No event with id {event_id}")
    if not can_manage(user, event):
        raise NotEventOwner()
    return event


# --- events -------------------------------------------------------------------------------


async def event_presale(session: AsyncSession, user: User, event_id: uuid.UUID) -> Event:
    """The event, to those who manage it: they alone may read its presale's codes."""
    return await _event_to_manage(session, user, event_id, lock=False)


def _in_zone(moment: datetime, timezone: str) -> datetime:
    """Naive times are wall-clock times at the venue; stored and answered in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


async def create_event(session: AsyncSession, user: User, data: schemas.EventCreate) -> Event:
    """Create a draft event; the quick form also creates its venue and one showtime."""
    event = await EventRepository(session).add(
        Event(
            organizer_id=user.id,
            title=data.title,
            description=data.description,
            event_type=data.event_type,
            status=EventStatus.draft,
            images=data.images,
            meta=data.metadata,
            sale_starts_at=data.sale_starts_at,
            sale_ends_at=data.sale_ends_at,
            presale_starts_at=data.presale_starts_at,
            presale_codes=data.presale_codes,
            hold_ttl_seconds=data.hold_ttl_seconds,
            max_tickets_per_booking=data.max_tickets_per_booking,
            max_tickets_per_buyer=data.max_tickets_per_buyer,
            allow_ticket_transfers=data.allow_ticket_transfers,
            accessible_release_hours=data.accessible_release_hours,
            refund_cutoff_hours=data.refund_cutoff_hours,
            refund_fee_percent_bp=data.refund_fee_percent_bp,
            refund_fee_fixed_minor=data.refund_fee_fixed_minor,
            fee_percent_bp=data.fee_percent_bp,
            fee_per_ticket_minor=data.fee_per_ticket_minor,
            fee_per_order_minor=data.fee_per_order_minor,
        )
    )
    await EventRepository(session).index_terms(event.id)
    if (
        data.venue is not None
        and data.city_id is not None
        and data.total_seats is not None
        and data.starts_at is not None
        and data.ends_at is not None
    ):
        seats = [
            SeatIn(row_label=s.row_label, number=s.number, x=s.x, y=s.y)
            for s in seats_for_capacity(data.total_seats)
        ]
        venue = await venue_service.create_venue(
            session,
            user,
            VenueCreate(
                name=data.venue,
                city_id=data.city_id,
                sections=[
                    SectionCreate(name=QUICK_FORM_SECTION, kind=SectionKind.reserved, seats=seats)
                ],
            ),
        )
        section = (await VenueRepository(session).sections(venue.id))[0]
        await add_showtime(
            session,
            user,
            event.id,
            schemas.ShowtimeCreate(
                venue_id=venue.id,
                starts_at=data.starts_at,
                ends_at=data.ends_at,
                price_tiers=[
                    schemas.PriceTierIn(
                        section_id=section.id,
                        name=QUICK_FORM_SECTION,
                        price_minor=data.price_minor,
                        currency=data.currency,
                    )
                ],
            ),
        )
    return event


async def update_event(
    session: AsyncSession, user: User, event_id: uuid.UUID, data: schemas.EventUpdate
) -> Event:
    """Change an event's details (not its status); cancelled events are frozen."""
    event = await _event_to_manage(session, user, event_id)
    if event.status is EventStatus.cancelled:
        raise EventCancelled()
    changes = data.model_dump(exclude_unset=True)
    fees_before = FeePolicy.of(event)
    before = {name: getattr(event, _attribute(name)) for name in changes}
    for name, value in changes.items():
        if value is None and name not in {
            "sale_starts_at",
            "sale_ends_at",
            "presale_starts_at",
            "max_tickets_per_buyer",
            "accessible_release_hours",
        }:
            continue
        setattr(event, _attribute(name), value)
    if event.sale_starts_at and event.sale_ends_at and event.sale_ends_at <= event.sale_starts_at:
        raise InvalidEventTransition("sale_ends_at must be after sale_starts_at")
    try:
        schemas.presale_problem(
            event.presale_starts_at, event.sale_starts_at, list(event.presale_codes)
        )
    except ValueError as exc:
        raise PresaleInvalid(str(exc)) from exc
    if fees_before != FeePolicy.of(event):
        # Kept so that holds placed before pay the fees of their time (or the new, if lower).
        session.add(
            EventFeeChange(
                event_id=event.id,
                previous_fee_percent_bp=fees_before.percent_bp,
                previous_fee_per_ticket_minor=fees_before.per_ticket_minor,
                previous_fee_per_order_minor=fees_before.per_order_minor,
                changed_by=user.id,
            )
        )
        # The transaction's clock, the one holds' `created_at` are stamped with.
        event.fees_changed_at = (await session.execute(select(func.now()))).scalar_one()
    await session.flush()
    await EventRepository(session).index_terms(event.id)
    changed = sorted(n for n in changes if getattr(event, _attribute(n)) != before[n])
    if changed:
        # The sale's rules with their old and new values (buyers are held to them); the
        # wording only by name.
        _audit_event(
            session,
            user,
            AuditAction.event_updated,
            event,
            fields=changed,
            rules={
                name: [_plain(before[name]), _plain(getattr(event, name))]
                for name in changed
                if name in _RULES
            },
        )
    return event


_RULES = {
    "accessible_release_hours",
    "sale_starts_at",
    "sale_ends_at",
    "presale_starts_at",
    "hold_ttl_seconds",
    "max_tickets_per_booking",
    "max_tickets_per_buyer",
    "allow_ticket_transfers",
    "refund_cutoff_hours",
    "refund_fee_percent_bp",
    "refund_fee_fixed_minor",
    "fee_percent_bp",
    "fee_per_ticket_minor",
    "fee_per_order_minor",
}


def _attribute(field: str) -> str:
    return "meta" if field == "metadata" else field


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _audit_event(
    session: AsyncSession,
    user: User,
    action: AuditAction,
    event: Event,
    target: tuple[str, uuid.UUID] | None = None,
    **details: Any,
) -> None:
    """An action on `event`, or on `target` (its showtime, a price tier) within it."""
    target_type, target_id = target or ("event", event.id)
    audit.record(
        session,
        user,
        action,
        target_type,
        target_id,
        organizer_id=event.organizer_id,
        event_id=event.id,
        **details,
    )


async def publish_event(session: AsyncSession, user: User, event_id: uuid.UUID) -> Event:
    """draft -> published; needs at least one scheduled showtime."""
    event = await _event_to_manage(session, user, event_id)
    if event.status is not EventStatus.draft:
        raise InvalidEventTransition(f"A {event.status.value} event cannot be published")
    if not await ShowtimeRepository(session).has_scheduled(event.id):
        raise EventHasNoShowtimes()
    event.status = EventStatus.published
    event.published_at = utcnow()
    await session.flush()
    _audit_event(session, user, AuditAction.event_published, event)
    await emit(
        session,
        Topic.event_published,
        event.id,
        {"event_id": str(event.id), "organizer_id": str(event.organizer_id)},
    )
    return event


async def cancel_event(
    session: AsyncSession,
    user: User,
    event_id: uuid.UUID,
    settle: SettleCancelled | None = None,
) -> Event:
    """draft/published -> cancelled; cancels every showtime and emits `event.cancelled`.

    `settle` (the payment domain's) refunds or cancels the showtimes' bookings in the same
    transaction and names the buyers, sent as `user_ids` with the event."""
    event = await _event_to_manage(session, user, event_id)
    if event.status is EventStatus.cancelled:
        raise InvalidEventTransition("The event is already cancelled")
    event.status = EventStatus.cancelled
    event.cancelled_at = utcnow()
    showtime_ids = await ShowtimeRepository(session).cancel_for_event(event.id)
    await session.flush()
    user_ids = await settle(session, user, showtime_ids) if settle else []
    _audit_event(
        session,
        user,
        AuditAction.event_cancelled,
        event,
        showtimes_cancelled=len(showtime_ids),
        buyers_told=len(user_ids),
    )
    await emit(
        session,
        Topic.event_cancelled,
        event.id,
        {
            "event_id": str(event.id),
            "organizer_id": str(event.organizer_id),
            "showtime_ids": [str(s) for s in showtime_ids],
            "user_ids": [str(u) for u in user_ids],
        },
    )
    return event


async def delete_event(session: AsyncSession, user: User, event_id: uuid.UUID) -> None:
    """Delete an event for which nothing was sold or is held; otherwise cancel it."""
    event = await _event_to_manage(session, user, event_id)
    if await event_has_sales(session, event.id):
        raise EventHasSales()
    _audit_event(session, user, AuditAction.event_deleted, event, title=event.title)
    await EventRepository(session).delete(event)


# --- showtimes ----------------------------------------------------------------------------


async def add_showtime(
    session: AsyncSession, user: User, event_id: uuid.UUID, data: schemas.ShowtimeCreate
) -> Showtime:
    """Schedule a performance at a venue, with a price per section; snapshots the seats."""
    event = await _event_to_manage(session, user, event_id)
    if event.status is EventStatus.cancelled:
        raise EventCancelled()
    venue = await venue_service.get_venue(session, data.venue_id)
    sections = {s.id: s for s in await VenueRepository(session).sections(venue.id)}
    if not sections:
        raise VenueHasNoPlaces()
    named = [t.section_id for t in data.price_tiers]
    if len(set(named)) != len(named) or set(named) != set(sections):
        raise InvalidPriceTiers(
            extra={
                "sections": [{"id": str(s.id), "name": s.name} for s in sections.values()],
            }
        )
    showtime = await ShowtimeRepository(session).add(
        Showtime(
            event_id=event.id,
            venue_id=venue.id,
            starts_at=_in_zone(data.starts_at, venue.timezone),
            ends_at=_in_zone(data.ends_at, venue.timezone),
            status=ShowtimeStatus.scheduled,
        ),
        [
            PriceTier(
                section_id=t.section_id,
                name=t.name,
                price_minor=t.price_minor,
                currency=t.currency,
            )
            for t in data.price_tiers
        ],
    )
    await create_showtime_inventory(session, showtime.id, venue.id)
    await EventRepository(session).refresh_search_places(event.id)
    _audit_event(
        session,
        user,
        AuditAction.showtime_added,
        event,
        ("showtime", showtime.id),
        venue_id=str(venue.id),
        starts_at=showtime.starts_at.isoformat(),
        prices=[
            {"section_id": str(t.section_id), "price_minor": t.price_minor, "currency": t.currency}
            for t in data.price_tiers
        ],
    )
    return showtime


async def _showtime_to_manage(
    session: AsyncSession, user: User, showtime_id: uuid.UUID
) -> tuple[Showtime, Event]:
    """The showtime, locked, with its event, if `user` may change it (else 404 / 403)."""
    showtime = await ShowtimeRepository(session).get(showtime_id, for_update=True)
    if showtime is None:
        raise ShowtimeNotFound(f"No showtime with id {showtime_id}")
    try:
        event = await _event_to_manage(session, user, showtime.event_id)
    except EventNotFound as exc:
        raise ShowtimeNotFound(f"No showtime with id {showtime_id}") from exc
    return showtime, event


async def reschedule_showtime(
    session: AsyncSession, user: User, showtime_id: uuid.UUID, data: schemas.ShowtimeUpdate
) -> Showtime:
    """New times for a scheduled showtime that has not started; emits `showtime.changed`.

    `starts_at` alone moves the whole performance (it keeps its length). A new start is a
    reschedule: `rescheduled_at` is set, the holders are told, and buyers who paid before
    may cancel for a full refund until it starts (`payment.booking_refunds`). Times that
    do not change anything answer the showtime as it is, and tell nobody.
    """
    showtime, event = await _showtime_to_manage(session, user, showtime_id)
    if showtime.status is ShowtimeStatus.cancelled or event.status is EventStatus.cancelled:
        raise ShowtimeCancelled()
    now = utcnow()
    if showtime.starts_at <= now:
        raise ShowtimeStarted(extra={"starts_at": showtime.starts_at.isoformat()})
    venue = await venue_service.get_venue(session, showtime.venue_id)
    starts_at = _in_zone(data.starts_at, venue.timezone) if data.starts_at else showtime.starts_at
    ends_at = (
        _in_zone(data.ends_at, venue.timezone)
        if data.ends_at
        else showtime.ends_at + (starts_at - showtime.starts_at)
    )
    if starts_at <= now or ends_at <= starts_at:
        raise InvalidShowtimeTimes(
            extra={"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()}
        )
    previous_starts_at, previous_ends_at = showtime.starts_at, showtime.ends_at
    if (starts_at, ends_at) == (previous_starts_at, previous_ends_at):
        return showtime
    showtime.starts_at, showtime.ends_at = starts_at, ends_at
    if starts_at != previous_starts_at:
        # The database's clock, as bookings' `confirmed_at`, which it is compared with.
        showtime.rescheduled_at = await session.scalar(select(func.now()))
    await session.flush()
    _audit_event(
        session,
        user,
        AuditAction.showtime_rescheduled,
        event,
        ("showtime", showtime.id),
        from_starts_at=previous_starts_at.isoformat(),
        to_starts_at=starts_at.isoformat(),
        from_ends_at=previous_ends_at.isoformat(),
        to_ends_at=ends_at.isoformat(),
    )
    await emit(
        session,
        Topic.showtime_changed,
        showtime.id,
        {
            "showtime_id": str(showtime.id),
            "event_id": str(event.id),
            "organizer_id": str(event.organizer_id),
            "event_title": event.title,
            "venue_name": venue.name,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "local_starts_at": starts_at.astimezone(ZoneInfo(venue.timezone)).isoformat(),
            "previous_starts_at": previous_starts_at.isoformat(),
            "previous_local_starts_at": previous_starts_at.astimezone(
                ZoneInfo(venue.timezone)
            ).isoformat(),
            "previous_ends_at": previous_ends_at.isoformat(),
            "rescheduled": starts_at != previous_starts_at,
        },
    )
    return showtime


async def update_price_tier(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    tier_id: uuid.UUID,
    data: schemas.PriceTierUpdate,
) -> Showtime:
    """Rename a tier or change its price (early bird over, a late release, a price drop).

    Bookings made before keep what they were charged. A booking made from a hold placed
    before pays the price it was held at, or the new one if lower (`price_tier_changes`
    keeps each change); from a hold placed after, the new price. Every process's cached
    seat map sees the change at its next version check and shows the new price.
    """
    showtime, event = await _showtime_to_manage(session, user, showtime_id)
    if showtime.status is ShowtimeStatus.cancelled or event.status is EventStatus.cancelled:
        raise ShowtimeCancelled()
    tier = await session.get(PriceTier, tier_id, with_for_update=True)
    if tier is None or tier.showtime_id != showtime.id:
        raise PriceTierNotFound()
    before = (tier.name, tier.price_minor)
    if data.name is not None:
        tier.name = data.name
    if data.price_minor is not None:
        tier.price_minor = data.price_minor
    if (tier.name, tier.price_minor) == before:
        return showtime
    session.add(
        PriceTierChange(
            price_tier_id=tier.id,
            previous_name=before[0],
            name=tier.name,
            previous_price_minor=before[1],
            price_minor=tier.price_minor,
            changed_by=user.id,
        )
    )
    await session.flush()
    _audit_event(
        session,
        user,
        AuditAction.price_tier_changed,
        event,
        ("price_tier", tier.id),
        showtime_id=str(showtime.id),
        from_name=before[0],
        to_name=tier.name,
        from_price_minor=before[1],
        to_price_minor=tier.price_minor,
        currency=tier.currency,
    )
    await emit(
        session,
        Topic.price_tier_changed,
        showtime.id,
        {
            "showtime_id": str(showtime.id),
            "event_id": str(event.id),
            "organizer_id": str(event.organizer_id),
            "price_tier_id": str(tier.id),
            "name": tier.name,
            "price_minor": tier.price_minor,
            "previous_price_minor": before[1],
            "currency": tier.currency,
        },
    )
    return showtime


async def cancel_showtime(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    settle: SettleCancelled | None = None,
) -> Showtime:
    """scheduled -> cancelled for one performance; emits `showtime.cancelled` (with the
    `user_ids` of the buyers `settle` refunded or cancelled, as in `cancel_event`)."""
    showtime, event = await _showtime_to_manage(session, user, showtime_id)
    if showtime.status is ShowtimeStatus.cancelled:
        raise InvalidEventTransition("The showtime is already cancelled")
    showtime.status = ShowtimeStatus.cancelled
    await session.flush()
    user_ids = await settle(session, user, [showtime.id]) if settle else []
    _audit_event(
        session,
        user,
        AuditAction.showtime_cancelled,
        event,
        ("showtime", showtime.id),
        starts_at=showtime.starts_at.isoformat(),
        buyers_told=len(user_ids),
    )
    await emit(
        session,
        Topic.showtime_cancelled,
        showtime.id,
        {
            "showtime_id": str(showtime.id),
            "event_id": str(showtime.event_id),
            "user_ids": [str(u) for u in user_ids],
        },
    )
    return showtime


async def venue_renamed(session: AsyncSession, venue_id: uuid.UUID) -> None:
    """Keep the search documents of events playing at a venue in step with its name."""
    repo = EventRepository(session)
    for event_id in await repo.event_ids_at_venue(venue_id):
        await repo.refresh_search_places(event_id)


async def showtime_views(
    session: AsyncSession,
    *,
    event_id: uuid.UUID | None = None,
    showtime_id: uuid.UUID | None = None,
) -> list[schemas.Showtime]:
    repo = ShowtimeRepository(session)
    rows = await repo.with_places(event_id=event_id, showtime_id=showtime_id)
    ids = [r.showtime.id for r in rows]
    availability = await showtime_availability(session, ids)
    fees = {r.showtime.id: r.fees for r in rows}
    tiers_by_showtime: dict[uuid.UUID, list[schemas.PriceTier]] = {}
    for tier, section_name in await repo.tiers(ids):
        units, available = availability.get((tier.showtime_id, tier.section_id), (0, 0))
        # One ticket's share of the fees: the percent and per-ticket ones (not per order).
        fee = ticket_fee(fees[tier.showtime_id], tier.price_minor)
        tiers_by_showtime.setdefault(tier.showtime_id, []).append(
            schemas.PriceTier(
                id=tier.id,
                section_id=tier.section_id,
                section_name=section_name,
                name=tier.name,
                price_minor=tier.price_minor,
                fee_minor=fee,
                price_with_fees_minor=tier.price_minor + fee,
                currency=tier.currency,
                units=units,
                available=available,
            )
        )
    result = []
    for row in rows:
        s = row.showtime
        tiers = tiers_by_showtime.get(s.id, [])
        result.append(
            schemas.Showtime(
                id=s.id,
                event_id=s.event_id,
                venue_id=s.venue_id,
                venue_name=row.venue_name,
                city_id=row.city_id,
                city_name=row.city_name,
                timezone=row.timezone,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                local_starts_at=s.starts_at.astimezone(ZoneInfo(row.timezone)).isoformat(),
                status=s.status,
                rescheduled_at=s.rescheduled_at,
                units=sum(t.units for t in tiers),
                available=sum(t.available for t in tiers),
                price_tiers=tiers,
            )
        )
    return result


async def showtime_detail(
    session: AsyncSession, user: User | None, showtime_id: uuid.UUID
) -> schemas.Showtime:
    """One showtime with its tiers and availability, if its event is visible."""
    showtime = await ShowtimeRepository(session).get(showtime_id)
    if showtime is None:
        raise ShowtimeNotFound(f"No showtime with id {showtime_id}")
    try:
        await get_visible_event(session, user, showtime.event_id)
    except EventNotFound as exc:
        raise ShowtimeNotFound(f"No showtime with id {showtime_id}") from exc
    return (await showtime_views(session, showtime_id=showtime_id))[0]


async def event_showtimes(
    session: AsyncSession, user: User | None, event_id: uuid.UUID
) -> list[schemas.Showtime]:
    """The event's upcoming scheduled showtimes, earliest first."""
    await get_visible_event(session, user, event_id)
    return await showtime_views(session, event_id=event_id)
