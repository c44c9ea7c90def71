import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.models import User
from boxoffice.auth.permissions import manages_organizer
from boxoffice.inventory.service import venue_has_sales
from boxoffice.kit.pagination import PageParams
from boxoffice.venue import schemas
from boxoffice.venue.errors import (
    CityExists,
    CityNotFound,
    InvalidLayout,
    NotVenueOwner,
    SectionExists,
    VenueLayoutInUse,
    VenueLayoutLocked,
    VenueNotFound,
)
from boxoffice.venue.layout import SeatSpec, generate_seats
from boxoffice.venue.models import City, Section, SectionKind, Venue
from boxoffice.venue.repository import CityRepository, VenueRepository

# Drawing offset between consecutive sections, so a generated map does not overlap itself.
SECTION_SPACING_Y = 30.0


async def create_city(session: AsyncSession, data: schemas.CityCreate) -> City:
    """Add a city (name + country are unique; the constraint still guards a race)."""
    repo = CityRepository(session)
    if await repo.taken(data.name, data.country):
        raise CityExists(f"{data.name} ({data.country}) is already listed")
    return await repo.add(City(**data.model_dump()))


async def get_city(session: AsyncSession, city_id: uuid.UUID) -> City:
    city = await CityRepository(session).get(city_id)
    if city is None:
        raise CityNotFound(f"No city with id {city_id}")
    return city


async def list_cities(
    session: AsyncSession, *, q: str | None, country: str | None, page: PageParams
) -> tuple[Sequence[City], int]:
    """Cities by name, optionally filtered by a (typo-tolerant) name and a country."""
    return await CityRepository(session).list(
        q=q, country=country, limit=page.limit, offset=page.offset
    )


def can_manage(user: User, venue: Venue) -> bool:
    return manages_organizer(user, venue.organizer_id)


def _section_seats(data: schemas.SectionCreate, offset_y: float) -> list[dict[str, Any]]:
    specs: list[SeatSpec]
    if data.layout is not None:
        spec = data.layout
        labels = spec.row_labels
        names = set(labels) if labels else None
        for gap in spec.gaps:
            if names is not None and gap.row_label not in names:
                raise InvalidLayout(f"gap names row {gap.row_label!r}, which is not in row_labels")
        specs = list(
            generate_seats(
                spec.rows,
                spec.seats_per_row,
                labels=labels,
                aisles_after=spec.aisles_after,
                gaps=[(g.row_label, g.number) for g in spec.gaps],
                accessible_rows=spec.accessible_rows,
                origin=(0.0, offset_y),
            )
        )
        if not specs:
            raise InvalidLayout("the gaps remove every seat")
    elif data.seats is not None:
        order = {label: i for i, label in enumerate(dict.fromkeys(s.row_label for s in data.seats))}
        specs = [
            SeatSpec(
                row_label=s.row_label,
                row_index=order[s.row_label],
                number=s.number,
                x=s.x,
                y=s.y,
                accessible=s.accessible,
            )
            for s in data.seats
        ]
    else:
        raise InvalidLayout("a reserved section needs a layout or a list of seats")
    return [
        {
            "row_label": s.row_label,
            "row_index": s.row_index,
            "number": s.number,
            "x": s.x,
            "y": s.y,
            "accessible": s.accessible,
        }
        for s in specs
    ]


async def _add_section(
    repo: VenueRepository, venue: Venue, data: schemas.SectionCreate, position: int
) -> Section:
    if data.kind is SectionKind.general_admission:
        if data.capacity is None:
            raise InvalidLayout("a general-admission section needs a capacity")
        seats: list[dict[str, Any]] = []
        capacity = data.capacity
    else:
        seats = _section_seats(data, position * SECTION_SPACING_Y)
        capacity = len(seats)
    section = Section(
        venue_id=venue.id,
        name=data.name,
        kind=data.kind,
        capacity=capacity,
        sort_order=data.sort_order or position,
    )
    return await repo.add_section(section, seats)


async def create_venue(session: AsyncSession, user: User, data: schemas.VenueCreate) -> Venue:
    """Create a venue owned by `user`, with its sections and seats."""
    city = await get_city(session, data.city_id)
    repo = VenueRepository(session)
    venue = await repo.add(
        Venue(
            organizer_id=user.id,
            city_id=city.id,
            name=data.name,
            address=data.address,
            latitude=data.latitude if data.latitude is not None else city.latitude,
            longitude=data.longitude if data.longitude is not None else city.longitude,
            timezone=data.timezone or city.timezone,
            description=data.description,
        )
    )
    for position, section in enumerate(data.sections):
        await _add_section(repo, venue, section, position)
    await session.flush()
    return venue


async def _venue_to_manage(session: AsyncSession, user: User, venue_id: uuid.UUID) -> Venue:
    venue = await VenueRepository(session).get(venue_id, for_update=True)
    if venue is None:
        raise VenueNotFound(f"No venue with id {venue_id}")
    if not can_manage(user, venue):
        raise NotVenueOwner()
    return venue


async def _ensure_layout_open(session: AsyncSession, venue: Venue) -> None:
    if await venue_has_sales(session, venue.id):
        raise VenueLayoutLocked(
            f"Venue {venue.id} has a showtime with sold or held seats; "
            "create a new venue for a different layout"
        )


async def add_section(
    session: AsyncSession, user: User, venue_id: uuid.UUID, data: schemas.SectionCreate
) -> Section:
    """Add a section; refused once a showtime at the venue has sales."""
    venue = await _venue_to_manage(session, user, venue_id)
    await _ensure_layout_open(session, venue)
    repo = VenueRepository(session)
    if await repo.section_name_taken(venue.id, data.name):
        raise SectionExists(f"Venue already has a section named {data.name!r}")
    position = len(await repo.sections(venue.id))
    section = await _add_section(repo, venue, data, position)
    _audit_venue(
        session,
        user,
        AuditAction.venue_section_added,
        venue,
        section_id=str(section.id),
        kind=section.kind.value,
        capacity=section.capacity,
    )
    return section


async def update_venue(
    session: AsyncSession, user: User, venue_id: uuid.UUID, data: schemas.VenueUpdate
) -> Venue:
    """Change a venue's details; `sections` replaces the layout while no showtime uses it."""
    venue = await _venue_to_manage(session, user, venue_id)
    changes = {
        field: value
        for field, value in data.model_dump(
            exclude_unset=True, exclude_none=True, exclude={"sections"}
        ).items()
        if getattr(venue, field) != value
    }
    for field, value in changes.items():
        setattr(venue, field, value)
    if data.sections is not None:
        await _ensure_layout_open(session, venue)
        repo = VenueRepository(session)
        if await repo.has_showtimes(venue.id):
            raise VenueLayoutInUse(
                f"Showtimes are scheduled at venue {venue.id}; their seat maps are snapshots "
                "of the current layout. Add sections instead, or remove those showtimes first"
            )
        await repo.delete_sections(venue.id)
        for position, section in enumerate(data.sections):
            await _add_section(repo, venue, section, position)
    await session.flush()
    if changes or data.sections is not None:
        # Field names, not values (an address is typed free text).
        _audit_venue(
            session,
            user,
            AuditAction.venue_updated,
            venue,
            fields=sorted(changes),
            layout_replaced=data.sections is not None,
        )
    return venue


def _audit_venue(
    session: AsyncSession, user: User, action: AuditAction, venue: Venue, **details: Any
) -> None:
    audit.record(
        session, user, action, "venue", venue.id, organizer_id=venue.organizer_id, **details
    )


async def get_venue(session: AsyncSession, venue_id: uuid.UUID) -> Venue:
    venue = await VenueRepository(session).get(venue_id)
    if venue is None:
        raise VenueNotFound(f"No venue with id {venue_id}")
    return venue


async def venue_detail(
    session: AsyncSession, venue_id: uuid.UUID, *, include_seats: bool = False
) -> schemas.Venue:
    """The venue with its sections (and, if asked, every seat of its reserved sections)."""
    venue = await get_venue(session, venue_id)
    repo = VenueRepository(session)
    city = await get_city(session, venue.city_id)
    sections = await repo.sections(venue.id)
    seats_by_section: dict[uuid.UUID, list[schemas.Seat]] = {}
    if include_seats:
        for seat in await repo.seats([s.id for s in sections]):
            seats_by_section.setdefault(seat.section_id, []).append(
                schemas.Seat.model_validate(seat)
            )
    return schemas.Venue(
        id=venue.id,
        name=venue.name,
        city_id=venue.city_id,
        city_name=city.name,
        organizer_id=venue.organizer_id,
        address=venue.address,
        latitude=venue.latitude,
        longitude=venue.longitude,
        timezone=venue.timezone,
        capacity=sum(s.capacity for s in sections),
        created_at=venue.created_at,
        description=venue.description,
        sections=[
            schemas.Section(
                id=s.id,
                name=s.name,
                kind=s.kind,
                capacity=s.capacity,
                sort_order=s.sort_order,
                seats=seats_by_section.get(s.id, [])
                if include_seats and s.kind is SectionKind.reserved
                else None,
            )
            for s in sections
        ],
    )


async def list_venues(
    session: AsyncSession,
    *,
    city_id: uuid.UUID | None,
    organizer_id: uuid.UUID | None,
    q: str | None,
    page: PageParams,
) -> tuple[list[schemas.VenueSummary], int]:
    """Venues by name with city name and capacity."""
    rows, total = await VenueRepository(session).list(
        city_id=city_id, organizer_id=organizer_id, q=q, limit=page.limit, offset=page.offset
    )
    return [
        schemas.VenueSummary(
            id=v.id,
            name=v.name,
            city_id=v.city_id,
            city_name=city_name,
            organizer_id=v.organizer_id,
            address=v.address,
            latitude=v.latitude,
            longitude=v.longitude,
            timezone=v.timezone,
            capacity=capacity,
            created_at=v.created_at,
        )
        for v, city_name, capacity in rows
    ], total
