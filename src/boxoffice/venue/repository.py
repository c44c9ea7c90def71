import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.catalog.models import Showtime
from boxoffice.kit.search import contains_pattern
from boxoffice.venue.models import City, Seat, Section, Venue


class CityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, city_id: uuid.UUID) -> City | None:
        return await self.session.get(City, city_id)

    async def add(self, city: City) -> City:
        self.session.add(city)
        await self.session.flush()
        return city

    async def taken(self, name: str, country: str) -> bool:
        """Whether the (name, country) pair the table keeps unique is listed already."""
        found = await self.session.scalar(
            select(City.id).where(City.name == name, City.country == country).limit(1)
        )
        return found is not None

    async def find_by_name(self, name: str) -> City | None:
        """Exact (case-insensitive) name first, else the most similar name (typos)."""
        similarity = func.similarity(City.name, name)
        return await self.session.scalar(
            select(City)
            .where((func.lower(City.name) == name.lower()) | City.name.op("%")(name))
            .order_by((func.lower(City.name) == name.lower()).desc(), similarity.desc(), City.id)
            .limit(1)
        )

    async def list(
        self, *, q: str | None, country: str | None, limit: int, offset: int
    ) -> tuple[Sequence[City], int]:
        where: list[Any] = []
        if q:
            where.append(City.name.ilike(contains_pattern(q), escape="\\") | City.name.op("%")(q))
        if country:
            where.append(City.country == country)
        total = await self.session.scalar(select(func.count()).select_from(City).where(*where))
        rows = await self.session.scalars(
            select(City).where(*where).order_by(City.name, City.id).limit(limit).offset(offset)
        )
        return rows.all(), total or 0


class VenueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, venue_id: uuid.UUID, *, for_update: bool = False) -> Venue | None:
        stmt = select(Venue).where(Venue.id == venue_id)
        if for_update:
            stmt = stmt.with_for_update(key_share=True)
        return await self.session.scalar(stmt)

    async def add(self, venue: Venue) -> Venue:
        self.session.add(venue)
        await self.session.flush()
        return venue

    async def list(
        self,
        *,
        city_id: uuid.UUID | None,
        organizer_id: uuid.UUID | None,
        q: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[tuple[Venue, str, int]], int]:
        """Venues with their city's name and total capacity, one query per page."""
        where: list[Any] = []
        if city_id:
            where.append(Venue.city_id == city_id)
        if organizer_id:
            where.append(Venue.organizer_id == organizer_id)
        if q:
            where.append(Venue.name.ilike(contains_pattern(q), escape="\\"))
        total = await self.session.scalar(select(func.count()).select_from(Venue).where(*where))
        capacity = (
            select(func.coalesce(func.sum(Section.capacity), 0))
            .where(Section.venue_id == Venue.id)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(Venue, City.name, capacity)
            .join(City, City.id == Venue.city_id)
            .where(*where)
            .order_by(Venue.name, Venue.id)
            .limit(limit)
            .offset(offset)
        )
        return [(v, name, int(cap)) for v, name, cap in rows.all()], total or 0

    async def sections(self, venue_id: uuid.UUID) -> Sequence[Section]:
        rows = await self.session.scalars(
            select(Section)
            .where(Section.venue_id == venue_id)
            .order_by(Section.sort_order, Section.name)
        )
        return rows.all()

    async def seats(self, section_ids: Sequence[uuid.UUID]) -> Sequence[Seat]:
        if not section_ids:
            return []
        rows = await self.session.scalars(
            select(Seat)
            .where(Seat.section_id.in_(section_ids))
            .order_by(Seat.section_id, Seat.row_index, Seat.number)
        )
        return rows.all()

    async def add_section(self, section: Section, seats: Sequence[dict[str, Any]]) -> Section:
        self.session.add(section)
        await self.session.flush()
        if seats:
            await self.session.execute(
                insert(Seat), [{**seat, "section_id": section.id} for seat in seats]
            )
        return section

    async def section_name_taken(self, venue_id: uuid.UUID, name: str) -> bool:
        found = await self.session.scalar(
            select(exists().where(Section.venue_id == venue_id, Section.name == name))
        )
        return bool(found)

    async def has_showtimes(self, venue_id: uuid.UUID) -> bool:
        found = await self.session.scalar(select(exists().where(Showtime.venue_id == venue_id)))
        return bool(found)

    async def delete_sections(self, venue_id: uuid.UUID) -> None:
        await self.session.execute(delete(Section).where(Section.venue_id == venue_id))

    async def capacity(self, venue_id: uuid.UUID) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Section.capacity), 0)).where(Section.venue_id == venue_id)
        )
        return int(total or 0)
