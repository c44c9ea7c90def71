"""Catalog SQL: events, showtimes and price tiers; list, search and "near me" pages.

List queries (built in `catalog.queries`) return one page of ids with the sort key and the
total (window count), then one aggregated query fills in showtime facts for the whole page:
no query per event.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.catalog.models import (
    Event,
    PriceTier,
    Showtime,
    ShowtimeStatus,
    UserLocation,
)
from boxoffice.catalog.queries import (
    CORRECTIONS_SQL,
    FACTS_SQL,
    MAX_CORRECTIONS,
    MAX_WALK,
    NEAREST_PLACES_SQL,
    EventFilters,
    count_query,
    list_query,
    nearby_query,
    search_query,
    upcoming_walk_query,
)
from boxoffice.kit.pagination import SortOrder
from boxoffice.payment.pricing import FeePolicy


@dataclass
class PageRow:
    event_id: uuid.UUID
    score: float | None


@dataclass
class EventFacts:
    next_starts_at: datetime | None = None
    showtime_count: int = 0
    cities: list[str] = field(default_factory=list)
    venues: list[str] = field(default_factory=list)
    lowest_price_minor: int | None = None
    lowest_price_currency: str | None = None


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, event_id: uuid.UUID, *, for_update: bool = False) -> Event | None:
        stmt = select(Event).where(Event.id == event_id)
        if for_update:
            stmt = stmt.with_for_update(key_share=True)
        return await self.session.scalar(stmt)

    async def add(self, event: Event) -> Event:
        self.session.add(event)
        await self.session.flush()
        return event

    async def delete(self, event: Event) -> None:
        await self.session.execute(delete(Event).where(Event.id == event.id))

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Event]:
        if not ids:
            return {}
        rows = await self.session.scalars(select(Event).where(Event.id.in_(ids)))
        return {e.id: e for e in rows}

    async def _page(
        self, sql: str, params: dict[str, Any], *, limit: int, offset: int
    ) -> tuple[list[PageRow], int]:
        params = {**params, "limit": limit, "offset": offset}
        rows = (await self.session.execute(text(sql), params)).all()
        if rows:
            return [PageRow(r.id, r.score) for r in rows], int(rows[0].total)
        if offset == 0:
            return [], 0
        count = await self.session.scalar(
            text(f"SELECT count(*) FROM ({sql.split(' ORDER BY ')[0]}) AS matched"),  # noqa: S608
            params,
        )
        return [], int(count or 0)

    async def list_page(
        self,
        filters: EventFilters,
        *,
        sort: str,
        order: SortOrder,
        limit: int,
        offset: int,
    ) -> tuple[list[PageRow], int]:
        """Published events matching the filters, one page, sorted."""
        if sort == "starts_at" and order is SortOrder.asc and filters.is_broad:
            found = await self._next_showtime_first(filters, limit=limit, offset=offset)
            if found is not None:
                return found
        sql, params = list_query(filters, sort=sort, order=order)
        return await self._page(sql, params, limit=limit, offset=offset)

    async def _next_showtime_first(
        self, filters: EventFilters, *, limit: int, offset: int
    ) -> tuple[list[PageRow], int] | None:
        """The same page as `list_query` by next showtime, without computing every event's key.

        Walks upcoming showtimes in start order (an index scan) in growing windows: an event's
        first row in that walk is its next showtime. Keys strictly before the window's last
        start are final, so once enough of them are found the page is exact. None when the
        walk runs out (few upcoming showtimes: the general query is cheap then).
        """
        sql, params = upcoming_walk_query(filters)
        need = offset + limit
        window = max(need * 4, 200)
        while window <= MAX_WALK:
            rows = (await self.session.execute(text(sql), {**params, "window": window})).all()
            if len(rows) < window:
                return None
            first: dict[uuid.UUID, datetime] = {}
            for row in rows:
                first.setdefault(row.event_id, row.starts_at)
            cutoff = rows[-1].starts_at
            ranked = sorted((key, event_id) for event_id, key in first.items() if key < cutoff)
            if len(ranked) >= need:
                count_sql, count_params = count_query(filters)
                total = await self.session.scalar(text(count_sql), count_params)
                return [PageRow(event_id, None) for _, event_id in ranked[offset:need]], int(
                    total or 0
                )
            window *= 4
        return None

    async def search_page(
        self, filters: EventFilters, query: str, *, limit: int, offset: int
    ) -> tuple[list[PageRow], int]:
        """Published events matching every word, best match first."""
        sql, params = search_query(filters, query)
        return await self._page(sql, params, limit=limit, offset=offset)

    async def nearby_page(
        self,
        filters: EventFilters,
        *,
        latitude: float,
        longitude: float,
        radius_km: float,
        limit: int,
        offset: int,
    ) -> tuple[list[PageRow], int]:
        """Published events with an upcoming showtime within the radius, nearest first.

        `score` is the distance in metres to the nearest such venue (great circle).
        """
        sql, params = nearby_query(
            filters, latitude=latitude, longitude=longitude, radius_km=radius_km
        )
        return await self._page(sql, params, limit=limit, offset=offset)

    async def nearest_places(
        self, event_ids: Sequence[uuid.UUID], latitude: float, longitude: float
    ) -> dict[uuid.UUID, tuple[str, str]]:
        """Event -> (city, venue) of its nearest upcoming showtime."""
        if not event_ids:
            return {}
        rows = await self.session.execute(
            text(NEAREST_PLACES_SQL),
            {"ids": list(event_ids), "lat": latitude, "lon": longitude},
        )
        return {r.event_id: (r.city, r.venue) for r in rows}

    async def facts(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, EventFacts]:
        """Upcoming-showtime facts for a page of events, in one query."""
        if not event_ids:
            return {}
        rows = await self.session.execute(
            text(FACTS_SQL),
            {"ids": list(event_ids)},
        )
        return {
            r.event_id: EventFacts(
                next_starts_at=r.next_starts_at,
                showtime_count=r.showtime_count,
                cities=sorted(r.cities),
                venues=sorted(r.venues),
                lowest_price_minor=r.lowest_price_minor,
                lowest_price_currency=r.lowest_currency,
            )
            for r in rows
        }

    async def correct(self, filters: EventFilters) -> None:
        """Fill `filters.corrections`: for each query word, the nearest known words."""
        if not filters.words:
            return
        rows = await self.session.execute(
            text(CORRECTIONS_SQL), {"words": filters.words, "n": MAX_CORRECTIONS}
        )
        for query_word, word in rows:
            filters.corrections.setdefault(query_word, []).append(word)

    async def index_terms(self, event_id: uuid.UUID) -> None:
        """Record the words of the event's search document for spelling correction.

        Numbers are left out: they are matched by prefix, and would swamp the table.
        """
        await self.session.execute(
            text(
                "INSERT INTO search_terms (word)"
                " SELECT DISTINCT word FROM events, unnest(tsvector_to_array(search_vector))"
                " AS word WHERE id = :id AND word !~ '^[0-9]+$' ORDER BY 1"
                " ON CONFLICT DO NOTHING"
            ),
            {"id": event_id},
        )

    async def event_ids_at_venue(self, venue_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(Showtime.event_id).where(Showtime.venue_id == venue_id).distinct()
        )
        return list(rows)

    async def refresh_search_places(self, event_id: uuid.UUID) -> None:
        """Copy the names of the event's cities and venues into its search document."""
        await self.session.execute(
            text(
                """
                UPDATE events SET search_places = coalesce((
                  SELECT string_agg(DISTINCT name, ' ') FROM (
                    SELECT c.name FROM showtimes s JOIN venues v ON v.id = s.venue_id
                      JOIN cities c ON c.id = v.city_id WHERE s.event_id = :id
                    UNION
                    SELECT v.name FROM showtimes s JOIN venues v ON v.id = s.venue_id
                     WHERE s.event_id = :id) AS names), '')
                 WHERE id = :id
                """
            ),
            {"id": event_id},
        )
        await self.index_terms(event_id)


@dataclass
class ShowtimeRow:
    showtime: Showtime
    venue_name: str
    city_id: uuid.UUID
    city_name: str
    timezone: str
    fees: FeePolicy
    """Its event's booking fees."""


class ShowtimeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, showtime: Showtime, tiers: Sequence[PriceTier]) -> Showtime:
        self.session.add(showtime)
        await self.session.flush()
        for tier in tiers:
            tier.showtime_id = showtime.id
        self.session.add_all(tiers)
        await self.session.flush()
        return showtime

    async def get(self, showtime_id: uuid.UUID, *, for_update: bool = False) -> Showtime | None:
        stmt = select(Showtime).where(Showtime.id == showtime_id)
        if for_update:
            stmt = stmt.with_for_update(key_share=True)
        return await self.session.scalar(stmt)

    async def has_scheduled(self, event_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(Showtime.id)
            .where(Showtime.event_id == event_id, Showtime.status == ShowtimeStatus.scheduled)
            .limit(1)
        )
        return found is not None

    async def cancel_for_event(self, event_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            update(Showtime)
            .where(Showtime.event_id == event_id, Showtime.status == ShowtimeStatus.scheduled)
            .values(status=ShowtimeStatus.cancelled)
            .returning(Showtime.id)
        )
        return list(rows)

    async def with_places(
        self, *, event_id: uuid.UUID | None = None, showtime_id: uuid.UUID | None = None
    ) -> list[ShowtimeRow]:
        """Showtimes (one, or an event's upcoming scheduled ones) with venue and city."""
        rows = await self.session.execute(
            text(
                """
                SELECT s.id, v.name AS venue_name, c.id AS city_id, c.name AS city_name,
                       v.timezone, e.fee_percent_bp, e.fee_per_ticket_minor,
                       e.fee_per_order_minor
                  FROM showtimes s JOIN venues v ON v.id = s.venue_id
                  JOIN cities c ON c.id = v.city_id
                  JOIN events e ON e.id = s.event_id
                 WHERE (CAST(:showtime_id AS uuid) IS NOT NULL AND s.id = :showtime_id)
                    OR (CAST(:event_id AS uuid) IS NOT NULL AND s.event_id = :event_id
                        AND s.status = 'scheduled' AND s.ends_at > now())
                 ORDER BY s.starts_at, s.id
                """
            ),
            {"event_id": event_id, "showtime_id": showtime_id},
        )
        places = rows.all()
        if not places:
            return []
        showtimes = {
            s.id: s
            for s in await self.session.scalars(
                select(Showtime).where(Showtime.id.in_([p.id for p in places]))
            )
        }
        return [
            ShowtimeRow(
                showtimes[p.id],
                p.venue_name,
                p.city_id,
                p.city_name,
                p.timezone,
                FeePolicy.of(p),
            )
            for p in places
        ]

    async def tiers(self, showtime_ids: Sequence[uuid.UUID]) -> list[tuple[PriceTier, str]]:
        """Price tiers with their section's name, nearest section first."""
        if not showtime_ids:
            return []
        rows = await self.session.execute(
            text(
                "SELECT pt.id, sec.name AS section_name FROM price_tiers pt"
                " JOIN sections sec ON sec.id = pt.section_id"
                " WHERE pt.showtime_id = ANY(:ids) ORDER BY sec.sort_order, sec.name"
            ),
            {"ids": list(showtime_ids)},
        )
        named = rows.all()
        tiers = {
            t.id: t
            for t in await self.session.scalars(
                select(PriceTier).where(PriceTier.id.in_([r.id for r in named]))
            )
        }
        return [(tiers[r.id], r.section_name) for r in named]


class LocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> UserLocation | None:
        return await self.session.get(UserLocation, user_id)

    async def upsert(self, user_id: uuid.UUID, latitude: float, longitude: float) -> UserLocation:
        await self.session.execute(
            text(
                "INSERT INTO user_locations (user_id, latitude, longitude, updated_at)"
                " VALUES (:user_id, :lat, :lon, now())"
                " ON CONFLICT (user_id) DO UPDATE SET latitude = EXCLUDED.latitude,"
                " longitude = EXCLUDED.longitude, updated_at = now()"
            ),
            {"user_id": user_id, "lat": latitude, "lon": longitude},
        )
        rows = await self.session.scalars(
            select(UserLocation)
            .where(UserLocation.user_id == user_id)
            .execution_options(populate_existing=True)
        )
        return rows.one()
