import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from boxoffice.auth.dependencies import require
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission
from boxoffice.catalog import service as catalog_service
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination
from boxoffice.venue import schemas, service

router = APIRouter(
    prefix="/api", tags=["venues"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)

VenueManager = Annotated[User, Depends(require(Permission.venue_manage))]


@router.get("/cities", response_model=Page[schemas.City], summary="List cities")
async def list_cities(
    request: Request,
    session: Session,
    page: Pagination,
    q: Annotated[str | None, Query(max_length=120, description="Part of the name")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
) -> Page[schemas.City]:
    cities, total = await service.list_cities(session, q=q, country=country, page=page)
    return Page[schemas.City].build(
        [schemas.City.model_validate(c) for c in cities], total, page, request
    )


@router.post("/cities", response_model=schemas.City, status_code=201, summary="Add a city")
async def create_city(
    session: Session, user: VenueManager, body: schemas.CityCreate
) -> schemas.City:
    return schemas.City.model_validate(await service.create_city(session, body))


@router.get("/cities/{city_id}", response_model=schemas.City, summary="One city")
async def get_city(session: Session, city_id: uuid.UUID) -> schemas.City:
    return schemas.City.model_validate(await service.get_city(session, city_id))


@router.get("/venues", response_model=Page[schemas.VenueSummary], summary="List venues")
async def list_venues(
    request: Request,
    session: Session,
    page: Pagination,
    city_id: uuid.UUID | None = None,
    organizer_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name")] = None,
) -> Page[schemas.VenueSummary]:
    venues, total = await service.list_venues(
        session, city_id=city_id, organizer_id=organizer_id, q=q, page=page
    )
    return Page[schemas.VenueSummary].build(venues, total, page, request)


@router.post(
    "/venues",
    response_model=schemas.Venue,
    status_code=201,
    summary="Create a venue with its sections and seat map",
)
async def create_venue(
    session: Session, user: VenueManager, body: schemas.VenueCreate
) -> schemas.Venue:
    venue = await service.create_venue(session, user, body)
    return await service.venue_detail(session, venue.id)


@router.get("/venues/{venue_id}", response_model=schemas.Venue, summary="One venue")
async def get_venue(
    session: Session,
    venue_id: uuid.UUID,
    include_seats: Annotated[bool, Query(description="List every seat")] = False,
) -> schemas.Venue:
    return await service.venue_detail(session, venue_id, include_seats=include_seats)


@router.put("/venues/{venue_id}", response_model=schemas.Venue, summary="Update a venue")
async def update_venue(
    session: Session, user: VenueManager, venue_id: uuid.UUID, body: schemas.VenueUpdate
) -> schemas.Venue:
    venue = await service.update_venue(session, user, venue_id, body)
    if body.name is not None:
        await catalog_service.venue_renamed(session, venue.id)
    return await service.venue_detail(session, venue.id)


@router.post(
    "/venues/{venue_id}/sections",
    response_model=schemas.Venue,
    status_code=201,
    summary="Add a section to a venue",
)
async def add_section(
    session: Session, user: VenueManager, venue_id: uuid.UUID, body: schemas.SectionCreate
) -> schemas.Venue:
    await service.add_section(session, user, venue_id, body)
    return await service.venue_detail(session, venue_id)
