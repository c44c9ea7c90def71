"""Catalog discovery: event lists with filters, search, "near me", and the event page."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.errors import InvalidAccessToken, PermissionDenied
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.catalog import schemas
from boxoffice.catalog.errors import LocationRequired
from boxoffice.catalog.models import Event, UserLocation
from boxoffice.catalog.queries import EventFilters, search_words
from boxoffice.catalog.repository import (
    EventFacts,
    EventRepository,
    LocationRepository,
    PageRow,
)
from boxoffice.catalog.service import get_visible_event, showtime_views
from boxoffice.kit.money import Money
from boxoffice.kit.pagination import PageParams, SortOrder
from boxoffice.review.service import rating_summary
from boxoffice.venue.errors import CityNotFound
from boxoffice.venue.repository import CityRepository

# --- reading events -----------------------------------------------------------------------


def _summary_fields(event: Event, facts: EventFacts | None) -> dict[str, Any]:
    facts = facts or EventFacts()
    lowest = None
    if facts.lowest_price_minor is not None and facts.lowest_price_currency:
        lowest = Money(amount_minor=facts.lowest_price_minor, currency=facts.lowest_price_currency)
    return {
        **schemas.EventSummary.model_validate(event).model_dump(exclude={"metadata"}),
        "metadata": event.meta,
        "next_starts_at": facts.next_starts_at,
        "showtime_count": facts.showtime_count,
        "cities": facts.cities,
        "venues": facts.venues,
        "lowest_price": lowest,
    }


async def _hydrate(session: AsyncSession, rows: Sequence[PageRow]) -> list[dict[str, Any]]:
    repo = EventRepository(session)
    ids = [r.event_id for r in rows]
    events = await repo.by_ids(ids)
    facts = await repo.facts(ids)
    return [_summary_fields(events[i], facts.get(i)) for i in ids]


def restrict_to_own(filters: EventFilters, user: User | None) -> None:
    """Narrow a list to the caller's own events, in every status."""
    if user is None:
        raise InvalidAccessToken("Sign in to list your own events")
    if not has_permission(user.role, Permission.catalog_read_drafts):
        raise PermissionDenied(f"Requires permission '{Permission.catalog_read_drafts.value}'")
    filters.organizer_id = user.id
    filters.include_unpublished = True


async def list_events(
    session: AsyncSession,
    filters: EventFilters,
    *,
    sort: schemas.EventSort,
    order: SortOrder,
    page: PageParams,
) -> tuple[list[schemas.EventSummary], int]:
    """Published events matching the filters, sorted, one page."""
    await EventRepository(session).correct(filters)
    rows, total = await EventRepository(session).list_page(
        filters, sort=sort.value, order=order, limit=page.limit, offset=page.offset
    )
    return [schemas.EventSummary(**f) for f in await _hydrate(session, rows)], total


async def search_events(
    session: AsyncSession, query: str, filters: EventFilters, *, page: PageParams
) -> tuple[list[schemas.EventSearchHit], int]:
    """Published events matching every word of `query` (prefixes, typos), best first."""
    filters.words = search_words(query)
    if not filters.words:
        return [], 0
    await EventRepository(session).correct(filters)
    rows, total = await EventRepository(session).search_page(
        filters, " ".join(filters.words), limit=page.limit, offset=page.offset
    )
    hydrated = await _hydrate(session, rows)
    return [
        schemas.EventSearchHit(**f, rank=round(r.score or 0.0, 6))
        for f, r in zip(hydrated, rows, strict=True)
    ], total


async def _center(
    session: AsyncSession,
    user: User | None,
    *,
    city_name: str | None,
    latitude: float | None,
    longitude: float | None,
) -> tuple[float, float]:
    if (latitude is None) != (longitude is None):
        raise LocationRequired("Give latitude and longitude together")
    if latitude is not None and longitude is not None:
        return latitude, longitude
    if city_name:
        city = await CityRepository(session).find_by_name(city_name)
        if city is None:
            raise CityNotFound(f"No city named {city_name!r}")
        return city.latitude, city.longitude
    if user is not None:
        location = await LocationRepository(session).get(user.id)
        if location is not None:
            return location.latitude, location.longitude
    raise LocationRequired()


async def events_nearby(
    session: AsyncSession,
    user: User | None,
    filters: EventFilters,
    *,
    city_name: str | None,
    latitude: float | None,
    longitude: float | None,
    radius_km: float,
    page: PageParams,
) -> tuple[list[schemas.EventNearby], int]:
    """Published events with an upcoming showtime within `radius_km`, nearest first."""
    lat, lon = await _center(
        session, user, city_name=city_name, latitude=latitude, longitude=longitude
    )
    repo = EventRepository(session)
    rows, total = await repo.nearby_page(
        filters,
        latitude=lat,
        longitude=lon,
        radius_km=radius_km,
        limit=page.limit,
        offset=page.offset,
    )
    hydrated = await _hydrate(session, rows)
    places = await repo.nearest_places([r.event_id for r in rows], lat, lon)
    return [
        schemas.EventNearby(
            **f,
            distance_km=round((r.score or 0.0) / 1000, 3),
            nearest_city=places[r.event_id][0],
            nearest_venue=places[r.event_id][1],
        )
        for f, r in zip(hydrated, rows, strict=True)
    ], total


async def event_detail(
    session: AsyncSession, user: User | None, event_id: uuid.UUID
) -> schemas.EventDetail:
    """The event with its upcoming showtimes, lowest price, availability and rating."""
    event = await get_visible_event(session, user, event_id)
    facts = (await EventRepository(session).facts([event.id])).get(event.id)
    showtimes = await showtime_views(session, event_id=event.id)
    ratings = await rating_summary(session, [event.id])
    average, count = ratings.get(event.id, (None, 0))
    return schemas.EventDetail(
        **_summary_fields(event, facts),
        hold_ttl_seconds=event.hold_ttl_seconds,
        refund_cutoff_hours=event.refund_cutoff_hours,
        refund_fee_percent_bp=event.refund_fee_percent_bp,
        refund_fee_fixed_minor=event.refund_fee_fixed_minor,
        fee_percent_bp=event.fee_percent_bp,
        fee_per_ticket_minor=event.fee_per_ticket_minor,
        fee_per_order_minor=event.fee_per_order_minor,
        max_tickets_per_booking=event.max_tickets_per_booking,
        max_tickets_per_buyer=event.max_tickets_per_buyer,
        allow_ticket_transfers=event.allow_ticket_transfers,
        accessible_release_hours=event.accessible_release_hours,
        cancelled_at=event.cancelled_at,
        showtimes=showtimes,
        availability=schemas.Availability(
            units=sum(s.units for s in showtimes),
            available=sum(s.available for s in showtimes),
        ),
        rating=schemas.Rating(average=average, count=count),
    )


async def post_location(
    session: AsyncSession, user: User, data: schemas.LocationIn
) -> UserLocation:
    """Remember where the user is; "near me" uses it when no place is given."""
    return await LocationRepository(session).upsert(user.id, data.latitude, data.longitude)
