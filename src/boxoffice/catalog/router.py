import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.dependencies import CurrentUser, OptionalUser, require
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission
from boxoffice.catalog import discovery, schemas, service
from boxoffice.catalog.models import EventType
from boxoffice.catalog.queries import EventFilters, search_words
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination, SortOrder
from boxoffice.payment import booking_refunds
from boxoffice.payment.dependencies import get_payment_provider
from boxoffice.venue import service as venue_service

router = APIRouter(
    prefix="/api", tags=["events"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)

EventManager = Annotated[User, Depends(require(Permission.event_manage))]


@dataclass(frozen=True, slots=True)
class FilterParams:
    event_type: EventType | None
    organizer_id: uuid.UUID | None
    starts_after: datetime | None
    starts_before: datetime | None

    def filters(self, *, city_id: uuid.UUID | None = None, q: str | None = None) -> EventFilters:
        return EventFilters(
            event_type=self.event_type,
            organizer_id=self.organizer_id,
            city_id=city_id,
            starts_after=self.starts_after,
            starts_before=self.starts_before,
            words=search_words(q) if q else [],
        )


def filter_params(
    event_type: EventType | None = None,
    organizer_id: uuid.UUID | None = None,
    starts_after: Annotated[
        datetime | None, Query(description="A showtime starts at or after this time")
    ] = None,
    starts_before: Annotated[
        datetime | None, Query(description="A showtime starts before this time")
    ] = None,
) -> FilterParams:
    return FilterParams(event_type, organizer_id, starts_after, starts_before)


Filters = Annotated[FilterParams, Depends(filter_params)]
SortParam = Annotated[schemas.EventSort, Query(description="Sort key")]
OrderParam = Annotated[SortOrder, Query(description="asc or desc")]
TextQuery = Annotated[str | None, Query(max_length=200, description="Free text")]


def _settle(request: Request) -> service.SettleCancelled:
    """Refund paid bookings, cancel unpaid ones, release holds and close waitlists of
    cancelled showtimes (the provider is only looked up when there is money to give
    back)."""

    async def settle(
        session: AsyncSession, user: User, showtime_ids: Sequence[uuid.UUID]
    ) -> Sequence[uuid.UUID]:
        return await booking_refunds.settle_cancelled_showtimes(
            session, user, showtime_ids, lambda: get_payment_provider(request)
        )

    return settle


@router.get("/events", response_model=Page[schemas.EventSummary], summary="List published events")
async def list_events(
    request: Request,
    session: Session,
    user: OptionalUser,
    page: Pagination,
    filters: Filters,
    city_id: uuid.UUID | None = None,
    q: TextQuery = None,
    sort: SortParam = schemas.EventSort.starts_at,
    order: OrderParam = SortOrder.asc,
    mine: Annotated[
        bool, Query(description="Only your own events, drafts and cancelled ones included")
    ] = False,
) -> Page[schemas.EventSummary]:
    event_filters = filters.filters(city_id=city_id, q=q)
    if mine:
        discovery.restrict_to_own(event_filters, user)
    events, total = await discovery.list_events(
        session, event_filters, sort=sort, order=order, page=page
    )
    return Page[schemas.EventSummary].build(events, total, page, request)


@router.get(
    "/events/search",
    response_model=Page[schemas.EventSearchHit],
    summary="Search events by title, description, city and type (typo-tolerant)",
)
async def search_events(
    request: Request,
    session: Session,
    page: Pagination,
    filters: Filters,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Search words")],
    city_id: uuid.UUID | None = None,
) -> Page[schemas.EventSearchHit]:
    hits, total = await discovery.search_events(
        session, q, filters.filters(city_id=city_id), page=page
    )
    return Page[schemas.EventSearchHit].build(hits, total, page, request)


@router.get(
    "/events/by-location",
    response_model=Page[schemas.EventNearby],
    summary="Events near a city or a point, nearest first",
)
async def events_by_location(
    request: Request,
    session: Session,
    user: OptionalUser,
    page: Pagination,
    filters: Filters,
    city_name: Annotated[str | None, Query(min_length=1, max_length=120)] = None,
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius: Annotated[float, Query(gt=0, le=20_000, description="Kilometres")] = 50.0,
) -> Page[schemas.EventNearby]:
    events, total = await discovery.events_nearby(
        session,
        user,
        filters.filters(),
        city_name=city_name,
        latitude=latitude,
        longitude=longitude,
        radius_km=radius,
        page=page,
    )
    return Page[schemas.EventNearby].build(events, total, page, request)


@router.get(
    "/cities/{city_id}/events",
    response_model=Page[schemas.EventSummary],
    summary="Published events with a showtime in a city",
)
async def city_events(
    request: Request,
    session: Session,
    page: Pagination,
    filters: Filters,
    city_id: uuid.UUID,
    sort: SortParam = schemas.EventSort.starts_at,
    order: OrderParam = SortOrder.asc,
) -> Page[schemas.EventSummary]:
    await venue_service.get_city(session, city_id)
    events, total = await discovery.list_events(
        session, filters.filters(city_id=city_id), sort=sort, order=order, page=page
    )
    return Page[schemas.EventSummary].build(events, total, page, request)


@router.post(
    "/location",
    response_model=schemas.Location,
    summary="Post your current location (used by by-location when no place is given)",
)
async def post_location(
    session: Session, user: CurrentUser, body: schemas.LocationIn
) -> schemas.Location:
    return schemas.Location.model_validate(await discovery.post_location(session, user, body))


@router.post(
    "/events", response_model=schemas.EventDetail, status_code=201, summary="Create a draft event"
)
async def create_event(
    session: Session, user: EventManager, body: schemas.EventCreate
) -> schemas.EventDetail:
    event = await service.create_event(session, user, body)
    return await discovery.event_detail(session, user, event.id)


@router.get("/events/{event_id}", response_model=schemas.EventDetail, summary="One event")
async def get_event(
    session: Session, user: OptionalUser, event_id: uuid.UUID
) -> schemas.EventDetail:
    return await discovery.event_detail(session, user, event_id)


@router.put("/events/{event_id}", response_model=schemas.EventDetail, summary="Update an event")
async def update_event(
    session: Session, user: EventManager, event_id: uuid.UUID, body: schemas.EventUpdate
) -> schemas.EventDetail:
    await service.update_event(session, user, event_id, body)
    return await discovery.event_detail(session, user, event_id)


@router.get(
    "/events/{event_id}/presale",
    response_model=schemas.Presale,
    summary="An event's presale with its access codes (its organizer, editors, admins)",
)
async def get_presale(session: Session, user: EventManager, event_id: uuid.UUID) -> schemas.Presale:
    event = await service.event_presale(session, user, event_id)
    return schemas.Presale(
        presale_starts_at=event.presale_starts_at,
        sale_starts_at=event.sale_starts_at,
        presale_codes=list(event.presale_codes),
    )


@router.delete(
    "/events/{event_id}",
    status_code=204,
    summary="Delete an event nothing was sold for (else cancel it)",
)
async def delete_event(session: Session, user: EventManager, event_id: uuid.UUID) -> Response:
    await service.delete_event(session, user, event_id)
    return Response(status_code=204)


@router.post(
    "/events/{event_id}/publish", response_model=schemas.EventDetail, summary="Publish an event"
)
async def publish_event(
    session: Session, user: EventManager, event_id: uuid.UUID
) -> schemas.EventDetail:
    await service.publish_event(session, user, event_id)
    return await discovery.event_detail(session, user, event_id)


@router.post(
    "/events/{event_id}/cancel",
    response_model=schemas.EventDetail,
    summary="Cancel an event and all its showtimes",
)
async def cancel_event(
    request: Request, session: Session, user: EventManager, event_id: uuid.UUID
) -> schemas.EventDetail:
    """Every showtime of the event is cancelled as `POST /api/showtimes/{id}/cancel` cancels
    one."""
    await service.cancel_event(session, user, event_id, _settle(request))
    return await discovery.event_detail(session, user, event_id)


@router.get(
    "/events/{event_id}/showtimes",
    response_model=list[schemas.Showtime],
    summary="An event's upcoming showtimes",
)
async def event_showtimes(
    session: Session, user: OptionalUser, event_id: uuid.UUID
) -> list[schemas.Showtime]:
    return await service.event_showtimes(session, user, event_id)


@router.post(
    "/events/{event_id}/showtimes",
    response_model=schemas.Showtime,
    status_code=201,
    summary="Schedule a showtime at a venue with a price per section",
)
async def add_showtime(
    session: Session, user: EventManager, event_id: uuid.UUID, body: schemas.ShowtimeCreate
) -> schemas.Showtime:
    showtime = await service.add_showtime(session, user, event_id, body)
    return await service.showtime_detail(session, user, showtime.id)


@router.get("/showtimes/{showtime_id}", response_model=schemas.Showtime, summary="One showtime")
async def get_showtime(
    session: Session, user: OptionalUser, showtime_id: uuid.UUID
) -> schemas.Showtime:
    return await service.showtime_detail(session, user, showtime_id)


@router.put(
    "/showtimes/{showtime_id}",
    response_model=schemas.Showtime,
    summary="Reschedule a showtime (its holders are told and may cancel for a full refund)",
)
async def reschedule_showtime(
    session: Session, user: EventManager, showtime_id: uuid.UUID, body: schemas.ShowtimeUpdate
) -> schemas.Showtime:
    await service.reschedule_showtime(session, user, showtime_id, body)
    return await service.showtime_detail(session, user, showtime_id)


@router.put(
    "/showtimes/{showtime_id}/price-tiers/{price_tier_id}",
    response_model=schemas.Showtime,
    summary="Change a price tier's price or name (bookings already made keep theirs)",
)
async def update_price_tier(
    session: Session,
    user: EventManager,
    showtime_id: uuid.UUID,
    price_tier_id: uuid.UUID,
    body: schemas.PriceTierUpdate,
) -> schemas.Showtime:
    await service.update_price_tier(session, user, showtime_id, price_tier_id, body)
    return await service.showtime_detail(session, user, showtime_id)


@router.post(
    "/showtimes/{showtime_id}/cancel",
    response_model=schemas.Showtime,
    summary="Cancel one showtime",
)
async def cancel_showtime(
    request: Request, session: Session, user: EventManager, showtime_id: uuid.UUID
) -> schemas.Showtime:
    """Sales stop (a purchase under way finishes first, then is settled with the rest).
    Paid bookings are refunded in full, unpaid ones cancelled; every hold is released and
    the waitlist closed (entries `cancelled`); buyers, ticket holders, holders of seats and
    the waiting are told."""
    await service.cancel_showtime(session, user, showtime_id, _settle(request))
    return await service.showtime_detail(session, user, showtime_id)
