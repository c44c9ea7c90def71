"""The demo data set: cities, three real seat maps, events of several types, demo users.

Loaded once: a second call finds the demo admin and does nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.auth.security import hash_password
from boxoffice.catalog.models import Event, EventStatus, EventType, PriceTier, Showtime
from boxoffice.catalog.repository import EventRepository
from boxoffice.demo.models import DataSetLoad
from boxoffice.inventory.service import create_showtime_inventory
from boxoffice.kit.time import utcnow
from boxoffice.review.models import Review
from boxoffice.venue.layout import generate_seats
from boxoffice.venue.models import City, Seat, Section, SectionKind, Venue

log = structlog.get_logger(__name__)

DEMO_PASSWORD = "boxoffice-demo"  # noqa: S105 - published in README on purpose
DEMO_USERS = (
    ("buyer@example.com", "Demo Buyer", Role.buyer),
    ("organizer@example.com", "Demo Organizer", Role.organizer),
    ("admin@example.com", "Demo Admin", Role.admin),
)

CITIES = (
    # name, country, lat, lon, timezone
    ("New York", "US", 40.7128, -74.0060, "America/New_York"),
    ("Newark", "US", 40.7357, -74.1724, "America/New_York"),
    ("London", "GB", 51.5074, -0.1278, "Europe/London"),
    ("Berlin", "DE", 52.5200, 13.4050, "Europe/Berlin"),
    ("Mumbai", "IN", 19.0760, 72.8777, "Asia/Kolkata"),
    ("Bengaluru", "IN", 12.9716, 77.5946, "Asia/Kolkata"),
)


@dataclass(frozen=True, slots=True)
class _SectionPlan:
    name: str
    kind: SectionKind
    rows: int = 0
    seats_per_row: int = 0
    capacity: int = 0
    aisles_after: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _VenuePlan:
    key: str
    name: str
    city: str
    address: str
    latitude: float
    longitude: float
    sections: tuple[_SectionPlan, ...]


VENUES = (
    _VenuePlan(
        "cinema",
        "Lumiere Cinema - Screen 1",
        "New York",
        "220 W 42nd St, New York, NY",
        40.7566,
        -73.9885,
        # 10 rows x 15 = 150 seats, an aisle after seats 4 and 11
        (
            _SectionPlan(
                "Hall", SectionKind.reserved, rows=10, seats_per_row=15, aisles_after=(4, 11)
            ),
        ),
    ),
    _VenuePlan(
        "theatre",
        "Royal Crescent Theatre",
        "London",
        "21 Wellington St, London",
        51.5115,
        -0.1201,
        (
            _SectionPlan(
                "Stalls", SectionKind.reserved, rows=20, seats_per_row=25, aisles_after=(12,)
            ),
            _SectionPlan("Dress Circle", SectionKind.reserved, rows=10, seats_per_row=20),
            _SectionPlan("Balcony", SectionKind.reserved, rows=5, seats_per_row=20),
        ),
    ),
    _VenuePlan(
        "arena",
        "Harbour Arena",
        "Mumbai",
        "Lower Parel, Mumbai",
        19.0008,
        72.8300,
        (
            _SectionPlan("Floor", SectionKind.general_admission, capacity=6000),
            _SectionPlan("Block A", SectionKind.reserved, rows=20, seats_per_row=50),
            _SectionPlan("Block B", SectionKind.reserved, rows=20, seats_per_row=50),
            _SectionPlan("Block C", SectionKind.reserved, rows=20, seats_per_row=50),
            _SectionPlan("Block D", SectionKind.reserved, rows=20, seats_per_row=50),
        ),
    ),
)

# title, type, venue key, description, [(days ahead, hour UTC)], {section: (tier, price)}, currency
EVENTS: tuple[
    tuple[str, EventType, str, str, list[tuple[int, int]], dict[str, tuple[str, int]], str], ...
] = (
    (
        "Interstellar (Re-release)",
        EventType.movie,
        "cinema",
        "Christopher Nolan's space epic back on the big screen.",
        [(2, 18), (2, 21), (3, 18), (5, 20), (9, 19), (12, 20)],
        {"Hall": ("Standard", 1450)},
        "USD",
    ),
    (
        "Hamlet",
        EventType.theatre,
        "theatre",
        "Shakespeare's tragedy of the Prince of Denmark, in a new production.",
        [(4, 19), (11, 19), (18, 14)],
        {
            "Stalls": ("Stalls", 6500),
            "Dress Circle": ("Circle", 4500),
            "Balcony": ("Balcony", 2500),
        },
        "GBP",
    ),
    (
        "Monsoon Beats Live",
        EventType.music,
        "arena",
        "A night of indie and electronic music with a standing floor.",
        [(14, 14)],
        {
            "Floor": ("General admission", 250000),
            "Block A": ("Premium", 450000),
            "Block B": ("Premium", 450000),
            "Block C": ("Standard", 300000),
            "Block D": ("Standard", 300000),
        },
        "INR",
    ),
    (
        "Late Night Standup",
        EventType.standup,
        "theatre",
        "Five comics, one stage, no filter.",
        [(6, 21), (20, 21)],
        {
            "Stalls": ("Stalls", 3000),
            "Dress Circle": ("Circle", 2500),
            "Balcony": ("Balcony", 1500),
        },
        "GBP",
    ),
    (
        "City Derby: Mumbai vs Bengaluru",
        EventType.sport,
        "arena",
        "The season's biggest football match.",
        [(21, 13)],
        {
            "Floor": ("Fan zone", 150000),
            "Block A": ("Premium", 350000),
            "Block B": ("Premium", 350000),
            "Block C": ("Standard", 200000),
            "Block D": ("Standard", 200000),
        },
        "INR",
    ),
)


# The demo buyer's reviews: event title -> (rating, comment).
REVIEWS = {
    "Interstellar (Re-release)": (5, "Still the best docking scene ever filmed. IMAX it."),
    "Hamlet": (4, "A bold production; the second half drags a little."),
}

# A draft: visible to its organizer, invisible to buyers until published.
DRAFT_EVENT = (
    "Open Mic Winter Special",
    EventType.standup,
    "New comics try new material. Line-up to be announced.",
)


DATA_SET = "demo"


async def demo_loaded(session: AsyncSession) -> bool:
    return await session.get(DataSetLoad, DATA_SET) is not None


async def load_demo(session: AsyncSession) -> bool:
    """Insert the demo data set unless it was loaded before (whatever was done to it since).
    Returns True if it loaded. Of two loads at once, the second waits on the record's key
    and then fails on it: the demo is in once."""
    if await demo_loaded(session):
        return False
    session.add(DataSetLoad(name=DATA_SET))
    await session.flush()
    password_hash = hash_password(DEMO_PASSWORD)
    users: dict[Role, User] = {}
    for email, name, role in DEMO_USERS:
        user = User(
            email=email,
            full_name=name,
            role=role,
            password_hash=password_hash,
            email_verified_at=utcnow(),
        )
        session.add(user)
        users[role] = user
    organizer = users[Role.organizer]

    cities: dict[str, City] = {}
    for name, country, lat, lon, tz in CITIES:
        cities[name] = City(name=name, country=country, latitude=lat, longitude=lon, timezone=tz)
        session.add(cities[name])
    await session.flush()

    venues: dict[str, Venue] = {}
    sections: dict[tuple[str, str], Section] = {}
    for plan in VENUES:
        city = cities[plan.city]
        venue = Venue(
            organizer_id=organizer.id,
            city_id=city.id,
            name=plan.name,
            address=plan.address,
            latitude=plan.latitude,
            longitude=plan.longitude,
            timezone=city.timezone,
        )
        session.add(venue)
        await session.flush()
        venues[plan.key] = venue
        for sort_order, sp in enumerate(plan.sections):
            capacity = (
                sp.capacity
                if sp.kind is SectionKind.general_admission
                else sp.rows * sp.seats_per_row
            )
            section = Section(
                venue_id=venue.id,
                name=sp.name,
                kind=sp.kind,
                capacity=capacity,
                sort_order=sort_order,
            )
            session.add(section)
            await session.flush()
            sections[(plan.key, sp.name)] = section
            if sp.kind is SectionKind.reserved:
                seats = [
                    {
                        "section_id": section.id,
                        "row_label": s.row_label,
                        "row_index": s.row_index,
                        "number": s.number,
                        "x": s.x,
                        "y": s.y + sort_order * 30.0,
                        "accessible": s.accessible or s.row_index == 0,
                    }
                    for s in generate_seats(sp.rows, sp.seats_per_row, aisles_after=sp.aisles_after)
                ]
                await session.execute(insert(Seat), seats)

    now = utcnow().replace(minute=0, second=0, microsecond=0)
    unit_count = 0
    buyer = users[Role.buyer]
    for title, event_type, venue_key, description, slots, tiers, currency in EVENTS:
        event = Event(
            organizer_id=organizer.id,
            title=title,
            description=description,
            event_type=event_type,
            status=EventStatus.published,
            images=[],
            meta={"demo": True},
            sale_starts_at=now - timedelta(days=1),
            published_at=now,
        )
        session.add(event)
        await session.flush()
        venue = venues[venue_key]
        for days, hour in slots:
            starts_at = _at(now, days, hour)
            showtime = Showtime(
                event_id=event.id,
                venue_id=venue.id,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=3),
            )
            session.add(showtime)
            await session.flush()
            for section_name, (tier_name, price) in tiers.items():
                session.add(
                    PriceTier(
                        showtime_id=showtime.id,
                        section_id=sections[(venue_key, section_name)].id,
                        name=tier_name,
                        price_minor=price,
                        currency=currency,
                    )
                )
            unit_count += await create_showtime_inventory(session, showtime.id, venue.id)
        # City and venue names make the event findable by place in search.
        await EventRepository(session).refresh_search_places(event.id)
        if title in REVIEWS:
            rating, comment = REVIEWS[title]
            session.add(
                Review(
                    event_id=event.id,
                    user_id=buyer.id,
                    rating=rating,
                    body=comment,
                    meta={"demo": True},
                )
            )
    draft_title, draft_type, draft_description = DRAFT_EVENT
    session.add(
        Event(
            organizer_id=organizer.id,
            title=draft_title,
            description=draft_description,
            event_type=draft_type,
            status=EventStatus.draft,
            images=[],
            meta={"demo": True},
        )
    )
    await session.flush()
    log.info("demo_loaded", events=len(EVENTS), units=unit_count)
    return True


def _at(now: datetime, days: int, hour: int) -> datetime:
    return (now + timedelta(days=days)).replace(hour=hour)
