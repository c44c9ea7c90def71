"""Plain async factories for test data, shared by every test package.

Each domain may add its own in `tests/<domain>/factories.py`; these are the common ones.
"""

import asyncio
import itertools
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.auth.security import create_access_token, hash_password
from boxoffice.catalog.models import Event, EventStatus, EventType, PriceTier, Showtime
from boxoffice.config import Settings
from boxoffice.inventory.service import create_showtime_inventory
from boxoffice.kit.time import utcnow
from boxoffice.venue.layout import generate_seats
from boxoffice.venue.models import City, Seat, Section, SectionKind, Venue

_counter = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"
_PASSWORD_HASH = hash_password(PASSWORD)


async def create_user(
    session: AsyncSession,
    *,
    role: Role = Role.buyer,
    email: str | None = None,
    is_active: bool = True,
    full_name: str = "Test User",
) -> User:
    user = User(
        email=email or f"user{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com",
        full_name=full_name,
        role=role,
        password_hash=_PASSWORD_HASH,
        is_active=is_active,
    )
    session.add(user)
    await session.flush()
    return user


def bearer(settings: Settings, user: User) -> dict[str, str]:
    token = create_access_token(
        settings.auth, user_id=user.id, role=user.role, token_version=user.token_version
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth_headers(settings: Settings) -> Callable[[User], dict[str, str]]:
    """`auth_headers(user)` -> an Authorization header with a fresh access token."""
    return lambda user: bearer(settings, user)


async def create_city(
    session: AsyncSession,
    *,
    name: str | None = None,
    country: str = "US",
    latitude: float = 40.7128,
    longitude: float = -74.0060,
    timezone: str = "America/New_York",
) -> City:
    city = City(
        name=name or f"City {next(_counter)}",
        country=country,
        latitude=latitude,
        longitude=longitude,
        timezone=timezone,
    )
    session.add(city)
    await session.flush()
    return city


async def create_venue(
    session: AsyncSession,
    *,
    organizer: User | None = None,
    city: City | None = None,
    rows: int = 5,
    seats_per_row: int = 10,
    ga_capacity: int = 0,
) -> Venue:
    """A venue with one reserved section (rows x seats) and, optionally, a GA section."""
    city = city or await create_city(session)
    venue = Venue(
        organizer_id=organizer.id if organizer else None,
        city_id=city.id,
        name=f"Venue {next(_counter)}",
        address="1 Test Street",
        latitude=city.latitude,
        longitude=city.longitude,
        timezone=city.timezone,
    )
    session.add(venue)
    await session.flush()
    if rows and seats_per_row:
        section = Section(
            venue_id=venue.id,
            name="Stalls",
            kind=SectionKind.reserved,
            capacity=rows * seats_per_row,
            sort_order=0,
        )
        session.add(section)
        await session.flush()
        session.add_all(
            Seat(
                section_id=section.id,
                row_label=s.row_label,
                row_index=s.row_index,
                number=s.number,
                x=s.x,
                y=s.y,
                accessible=s.accessible,
            )
            for s in generate_seats(rows, seats_per_row)
        )
    if ga_capacity:
        session.add(
            Section(
                venue_id=venue.id,
                name="Floor",
                kind=SectionKind.general_admission,
                capacity=ga_capacity,
                sort_order=1,
            )
        )
    await session.flush()
    return venue


async def create_event(
    session: AsyncSession,
    *,
    organizer: User,
    title: str | None = None,
    event_type: EventType = EventType.music,
    status: EventStatus = EventStatus.published,
) -> Event:
    event = Event(
        organizer_id=organizer.id,
        title=title or f"Event {next(_counter)}",
        description="A test event",
        event_type=event_type,
        status=status,
        images=[],
        meta={},
        sale_starts_at=utcnow() - timedelta(days=1),
        published_at=utcnow() if status is EventStatus.published else None,
    )
    session.add(event)
    await session.flush()
    return event


async def create_showtime(
    session: AsyncSession,
    *,
    event: Event,
    venue: Venue,
    price_minor: int = 2500,
    currency: str = "USD",
    starts_in: timedelta = timedelta(days=7),
) -> Showtime:
    """A showtime with one price tier per section and its inventory snapshotted."""
    starts_at = utcnow() + starts_in
    showtime = Showtime(
        event_id=event.id,
        venue_id=venue.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
    )
    session.add(showtime)
    await session.flush()
    sections = (await session.scalars(select(Section).where(Section.venue_id == venue.id))).all()
    for section in sections:
        session.add(
            PriceTier(
                showtime_id=showtime.id,
                section_id=section.id,
                name=section.name,
                price_minor=price_minor,
                currency=currency,
            )
        )
    await create_showtime_inventory(session, showtime.id, venue.id)
    await session.flush()
    return showtime


def configure(app: FastAPI, settings: Settings, group: str, **changes: Any) -> None:
    """Run `app` with `settings`, some values of one group changed (a limit lowered to
    reach it in a test, or lifted)."""
    changed = getattr(settings, group).model_copy(update=changes)
    app.state.settings = settings.model_copy(update={group: changed})


async def until_waiting_for_locks(
    maker: async_sessionmaker[AsyncSession], count: int = 1, *, blocked_by: int | None = None
) -> None:
    """Return once `count` transactions of the test database wait for a lock (10 s at most);
    `blocked_by`: only those waiting for the backend with that pid."""
    for _ in range(1000):
        async with maker() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    " AND (CAST(:pid AS int) IS NULL"
                    "      OR CAST(:pid AS int) = ANY(pg_blocking_pids(pid)))"
                ),
                {"pid": blocked_by},
            )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} transactions waited for a lock")
