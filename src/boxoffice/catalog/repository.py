"""Catalog SQL: events, showtimes and price tiers; list, search and "near me" queries.

List queries return one page of ids with the sort key and the total (window count), then
one aggregated query fills in showtime facts for the whole page: no query per event.
"""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.catalog.models import (
    Event,
    EventType,
    PriceTier,
    Showtime,
    ShowtimeStatus,
    UserLocation,
)
from boxoffice.kit.pagination import SortOrder

MAX_SEARCH_WORDS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
_TERM = re.compile(r"\w+", re.UNICODE)
MAX_CORRECTIONS = 3

# Fixed SQL per sort key (never built from input). "Upcoming" = scheduled and not yet over.
_SORT_SQL = {
    "starts_at": (
        "(SELECT min(s.starts_at) FROM showtimes s WHERE s.event_id = e.id "
        "AND s.status = 'scheduled' AND s.ends_at > now())"
    ),
    "price": (
        "(SELECT min(pt.price_minor) FROM showtimes s JOIN price_tiers pt ON pt.showtime_id = s.id"
        " WHERE s.event_id = e.id AND s.status = 'scheduled' AND s.ends_at > now())"
    ),
    "created_at": "e.created_at",
    "title": "lower(e.title)",
}


def search_words(q: str) -> list[str]:
    """Lower-case words of a free-text query (letters and digits only), at most eight."""
    return [w.lower() for w in _WORD.findall(q)][:MAX_SEARCH_WORDS]


@dataclass
class EventFilters:
    event_type: EventType | None = None
    organizer_id: uuid.UUID | None = None
    city_id: uuid.UUID | None = None
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    words: list[str] = field(default_factory=list)
    corrections: dict[str, list[str]] = field(default_factory=dict)
    include_unpublished: bool = False
    """Drafts and cancelled events too (an organizer's own list only)."""
    """Known words spelled like each query word (filled by `EventRepository.correct`)."""

    def word_query(self, word: str) -> str:
        """tsquery text for one query word: its prefix, or any of its corrections."""
        alternatives = [f"{word}:*"]
        alternatives += [w for w in self.corrections.get(word, []) if _TERM.fullmatch(w)]
        return " | ".join(dict.fromkeys(alternatives))


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


def _where(filters: EventFilters, params: dict[str, Any]) -> list[str]:
    clauses = ["TRUE"] if filters.include_unpublished else ["e.status = 'published'"]
    if filters.event_type is not None:
        clauses.append("e.event_type = :event_type")
        params["event_type"] = filters.event_type.value
    if filters.organizer_id is not None:
        clauses.append("e.organizer_id = :organizer_id")
        params["organizer_id"] = filters.organizer_id
    showtime_conditions = []
    if filters.city_id is not None:
        showtime_conditions.append(
            "s.venue_id IN (SELECT v.id FROM venues v WHERE v.city_id = :city_id)"
        )
        params["city_id"] = filters.city_id
    if filters.starts_after is not None:
        showtime_conditions.append("s.starts_at >= :starts_after")
        params["starts_after"] = filters.starts_after
    if filters.starts_before is not None:
        showtime_conditions.append("s.starts_at < :starts_before")
        params["starts_before"] = filters.starts_before
    if showtime_conditions:
        clauses.append(
            "EXISTS (SELECT 1 FROM showtimes s WHERE s.event_id = e.id AND s.status = 'scheduled'"  # noqa: S608
            " AND " + " AND ".join(showtime_conditions) + ")"
        )
    for i, word in enumerate(filters.words):
        # Each word matches as a prefix of a document word, or as one of its spelling
        # corrections; one GIN full-text lookup either way.
        clauses.append(f"e.search_vector @@ to_tsquery('simple', :tsw{i})")
        params[f"tsw{i}"] = filters.word_query(word)
    return clauses


def list_query(filters: EventFilters, *, sort: str, order: SortOrder) -> tuple[str, dict[str, Any]]:
    """SQL and parameters for one page of a filtered, sorted event list (add limit, offset)."""
    params: dict[str, Any] = {}
    where = " AND ".join(_where(filters, params))
    direction = "DESC" if order is SortOrder.desc else "ASC"
    sql = (
        f"SELECT e.id, NULL::float8 AS score, count(*) OVER () AS total, "  # noqa: S608
        f"{_SORT_SQL[sort]} AS sort_key FROM events e WHERE {where}"
        f" ORDER BY sort_key {direction} NULLS LAST, e.id LIMIT :limit OFFSET :offset"
    )
    return sql, params


def search_query(filters: EventFilters, query: str) -> tuple[str, dict[str, Any]]:
    """SQL and parameters for one page of search hits, best first (add limit, offset)."""
    params: dict[str, Any] = {
        "query": query,
        "any_word": " | ".join(filters.word_query(w) for w in filters.words),
    }
    where = " AND ".join(_where(filters, params))
    sql = (
        "SELECT e.id, count(*) OVER () AS total, "  # noqa: S608
        "ts_rank(e.search_vector, to_tsquery('simple', :any_word))"
        " + word_similarity(:query, e.title) AS score"
        f" FROM events e WHERE {where}"
        " ORDER BY score DESC, e.id LIMIT :limit OFFSET :offset"
    )
    return sql, params


def nearby_query(
    filters: EventFilters, *, latitude: float, longitude: float, radius_km: float
) -> tuple[str, dict[str, Any]]:
    """SQL and parameters for one page of events near a point, nearest first.

    `score` is the distance in metres to the nearest venue with an upcoming showtime.
    """
    params: dict[str, Any] = {"lat": latitude, "lon": longitude, "radius": radius_km * 1000}
    where = " AND ".join(_where(filters, params))
    sql = (
        "WITH near AS ("  # noqa: S608
        " SELECT v.id, earth_distance(ll_to_earth(:lat, :lon),"
        " ll_to_earth(v.latitude, v.longitude)) AS distance"
        " FROM venues v"
        " WHERE earth_box(ll_to_earth(:lat, :lon), :radius) @> ll_to_earth(v.latitude,"
        " v.longitude)),"
        " hits AS (SELECT s.event_id, min(near.distance) AS distance"
        " FROM near JOIN showtimes s ON s.venue_id = near.id"
        " WHERE near.distance <= :radius AND s.status = 'scheduled' AND s.ends_at > now()"
        " GROUP BY s.event_id)"
        " SELECT e.id, hits.distance AS score, count(*) OVER () AS total"
        f" FROM hits JOIN events e ON e.id = hits.event_id WHERE {where}"
        " ORDER BY hits.distance, e.id LIMIT :limit OFFSET :offset"
    )
    return sql, params


FACTS_SQL = """
SELECT s.event_id,
       min(s.starts_at) AS next_starts_at,
       count(DISTINCT s.id) AS showtime_count,
       array_agg(DISTINCT c.name) AS cities,
       array_agg(DISTINCT v.name) AS venues,
       min(pt.price_minor) AS lowest_price_minor,
       (array_agg(pt.currency ORDER BY pt.price_minor))[1] AS lowest_currency
  FROM showtimes s
  JOIN venues v ON v.id = s.venue_id
  JOIN cities c ON c.id = v.city_id
  LEFT JOIN price_tiers pt ON pt.showtime_id = s.id
 WHERE s.event_id = ANY(:ids) AND s.status = 'scheduled' AND s.ends_at > now()
 GROUP BY s.event_id
"""
"""Upcoming-showtime facts for a page of events, in one query."""

CORRECTIONS_SQL = (
    "SELECT q.word AS query_word, t.word FROM unnest(CAST(:words AS text[])) AS q(word)"
    " CROSS JOIN LATERAL (SELECT word FROM search_terms WHERE word % q.word"
    " ORDER BY word <-> q.word LIMIT :n) AS t"
)
"""Up to :n known words spelled like each query word, nearest first."""

NEAREST_PLACES_SQL = (
    "SELECT DISTINCT ON (s.event_id) s.event_id, c.name AS city, v.name AS venue"
    " FROM showtimes s JOIN venues v ON v.id = s.venue_id"
    " JOIN cities c ON c.id = v.city_id"
    " WHERE s.event_id = ANY(:ids) AND s.status = 'scheduled' AND s.ends_at > now()"
    " ORDER BY s.event_id, earth_distance(ll_to_earth(:lat, :lon),"
    " ll_to_earth(v.latitude, v.longitude))"
)


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, event_id: uuid.UUID, *, for_update: bool = False) -> Event | None:
        stmt = select(Event).where(Event.id == event_id)
        if for_update:
            stmt = stmt.with_for_update()
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
        sql, params = list_query(filters, sort=sort, order=order)
        return await self._page(sql, params, limit=limit, offset=offset)

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

    async def get(self, showtime_id: uuid.UUID) -> Showtime | None:
        return await self.session.get(Showtime, showtime_id)

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
                       v.timezone
                  FROM showtimes s JOIN venues v ON v.id = s.venue_id
                  JOIN cities c ON c.id = v.city_id
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
            ShowtimeRow(showtimes[p.id], p.venue_name, p.city_id, p.city_name, p.timezone)
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
