"""Catalog read SQL, built from filters: one page of a list, of search hits, of events near
a point. Shared by the repository and the benchmark (which runs it directly on asyncpg).

Every fragment is fixed text; values travel as bound parameters.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from boxoffice.catalog.models import EventType
from boxoffice.kit.pagination import SortOrder

MAX_SEARCH_WORDS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
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

    @property
    def is_broad(self) -> bool:
        """Filters that leave most of the catalog (the default list, a type, a date range)."""
        return not (self.words or self.city_id or self.organizer_id or self.include_unpublished)

    """Known words spelled like each query word (filled by `EventRepository.correct`)."""

    def word_query(self, word: str) -> str:
        """tsquery text for one query word: its prefix, or any of its corrections."""
        alternatives = [f"{word}:*"]
        alternatives += [w for w in self.corrections.get(word, []) if _WORD.fullmatch(w)]
        return " | ".join(dict.fromkeys(alternatives))


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


MAX_WALK = 50_000
"""Most upcoming showtimes the next-showtime walk reads before it gives up."""


def upcoming_walk_query(filters: EventFilters) -> tuple[str, dict[str, Any]]:
    """Upcoming showtimes of matching events in start order, `:window` rows."""
    params: dict[str, Any] = {}
    where = " AND ".join(_where(filters, params))
    sql = (
        "SELECT s.event_id, s.starts_at FROM showtimes s JOIN events e ON e.id = s.event_id"  # noqa: S608
        f" WHERE s.status = 'scheduled' AND s.ends_at > now() AND {where}"
        " ORDER BY s.starts_at, s.event_id LIMIT :window"
    )
    return sql, params


def count_query(filters: EventFilters) -> tuple[str, dict[str, Any]]:
    """How many events match the filters."""
    params: dict[str, Any] = {}
    where = " AND ".join(_where(filters, params))
    return f"SELECT count(*) FROM events e WHERE {where}", params  # noqa: S608


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
