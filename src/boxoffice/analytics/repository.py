"""Set-based reporting SQL: each query aggregates in PostgreSQL and returns a few rows.

Revenue is what confirmed, non-complimentary bookings cost (complimentary ones are confirmed
by an admin without payment, so their tickets count as sold but bring no revenue).
Every booking query is scoped by the same filter: optional event, optional organizer (the
caller's own id for organizers), and a half-open timestamp range [start, end).
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Filter:
    start: datetime
    end: datetime
    day_from: date
    day_to: date
    event_id: uuid.UUID | None
    organizer_id: uuid.UUID | None

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "day_from": self.day_from,
            "day_to": self.day_to,
            "event_id": self.event_id,
            "organizer_id": self.organizer_id,
        }


_EVENT_SCOPE = """
    (CAST(:event_id AS uuid) IS NULL OR e.id = CAST(:event_id AS uuid))
    AND (CAST(:organizer_id AS uuid) IS NULL OR e.organizer_id = CAST(:organizer_id AS uuid))
"""

_CREATED_IN_RANGE = "b.created_at >= :start AND b.created_at < :end"

_STATUS_COUNTS = text(f"""
    SELECT b.status, count(*) AS bookings
    FROM bookings b JOIN events e ON e.id = b.event_id
    WHERE {_EVENT_SCOPE} AND {_CREATED_IN_RANGE}
    GROUP BY b.status
""")  # noqa: S608 - only module constants are interpolated

_CONFIRMED_BY_CURRENCY = text(f"""
    SELECT b.currency, coalesce(sum(b.total_minor) FILTER (WHERE NOT b.complimentary), 0)
           AS revenue, sum(b.quantity) AS tickets,
           coalesce(sum((b.metadata -> 'pricing' ->> 'fees_minor')::bigint)
                    FILTER (WHERE NOT b.complimentary), 0) AS fees
    FROM bookings b JOIN events e ON e.id = b.event_id
    WHERE {_EVENT_SCOPE} AND {_CREATED_IN_RANGE} AND b.status = 'confirmed'
    GROUP BY b.currency
    ORDER BY b.currency
""")  # noqa: S608 - only module constants are interpolated

# One row per booking-history fact (created / confirmed / cancelled) with its UTC day, then
# counted per day of a generated calendar so days without activity are present with zeros.
_FACTS = f"""
    scoped AS (
        SELECT b.created_at, b.confirmed_at, b.cancelled_at, b.status, b.currency,
               b.total_minor, b.complimentary
        FROM bookings b JOIN events e ON e.id = b.event_id
        WHERE {_EVENT_SCOPE}
          AND ((b.created_at >= :start AND b.created_at < :end)
               OR (b.confirmed_at >= :start AND b.confirmed_at < :end)
               OR (b.cancelled_at >= :start AND b.cancelled_at < :end))
    ),
    facts AS (
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, 'created' AS kind,
               NULL::text AS currency, 0::bigint AS amount
        FROM scoped
        UNION ALL
        SELECT (confirmed_at AT TIME ZONE 'UTC')::date, 'confirmed', currency,
               CASE WHEN status = 'confirmed' AND NOT complimentary THEN total_minor ELSE 0 END
        FROM scoped WHERE confirmed_at IS NOT NULL
        UNION ALL
        SELECT (cancelled_at AT TIME ZONE 'UTC')::date, 'cancelled', NULL, 0
        FROM scoped WHERE cancelled_at IS NOT NULL
    )
"""  # noqa: S608 - only module constants are interpolated

_DAILY_COUNTS = text(f"""
    WITH {_FACTS}
    SELECT d.day::date AS day,
           count(f.kind) FILTER (WHERE f.kind = 'created') AS created,
           count(f.kind) FILTER (WHERE f.kind = 'confirmed') AS confirmed,
           count(f.kind) FILTER (WHERE f.kind = 'cancelled') AS cancelled
    FROM generate_series(CAST(:day_from AS date), CAST(:day_to AS date), interval '1 day')
         AS d(day)
    LEFT JOIN facts f ON f.day = d.day::date
    GROUP BY d.day
    ORDER BY d.day
""")  # noqa: S608 - only module constants are interpolated

_DAILY_REVENUE = text(f"""
    WITH {_FACTS}
    SELECT day, currency, sum(amount) AS revenue
    FROM facts
    WHERE kind = 'confirmed' AND amount > 0
      AND day BETWEEN CAST(:day_from AS date) AND CAST(:day_to AS date)
    GROUP BY day, currency
    ORDER BY day, currency
""")  # noqa: S608 - only module constants are interpolated

_UTILIZATION = text(f"""
    SELECT e.id AS event_id, e.title,
           count(u.id) AS capacity,
           count(u.id) FILTER (WHERE u.state = 'sold') AS sold,
           count(u.id) FILTER (WHERE u.state = 'held' AND u.held_until > now()) AS held,
           count(u.id) FILTER (WHERE u.state = 'blocked') AS blocked
    FROM events e
    JOIN showtimes s ON s.event_id = e.id AND s.status <> 'cancelled'
    JOIN inventory_units u ON u.showtime_id = s.id
    WHERE {_EVENT_SCOPE}
    GROUP BY e.id, e.title
    ORDER BY sold DESC, e.title, e.id
    LIMIT :limit
""")  # noqa: S608 - only module constants are interpolated

_TOP_EVENTS = text(f"""
    SELECT e.id AS event_id, e.title, b.currency,
           coalesce(sum(b.total_minor) FILTER (WHERE NOT b.complimentary), 0) AS revenue,
           sum(b.quantity) AS tickets, count(*) AS bookings
    FROM bookings b JOIN events e ON e.id = b.event_id
    WHERE {_EVENT_SCOPE} AND {_CREATED_IN_RANGE} AND b.status = 'confirmed'
    GROUP BY e.id, e.title, b.currency
    ORDER BY revenue DESC, e.title, e.id
    LIMIT :limit
""")  # noqa: S608 - only module constants are interpolated

_OVERVIEW = text("""
    SELECT 'role' AS kind, role AS key, count(*) AS n
    FROM users WHERE deleted_at IS NULL GROUP BY role
    UNION ALL
    SELECT 'event_status', status, count(*) FROM events GROUP BY status
    UNION ALL
    SELECT 'upcoming_showtimes', '', count(*)
    FROM showtimes WHERE status = 'scheduled' AND starts_at > now()
    UNION ALL
    SELECT 'bookings_today', '', count(*)
    FROM bookings WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                       AT TIME ZONE 'UTC'
""")


class AnalyticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, query: Any, params: dict[str, Any]) -> list[Any]:
        return list((await self.session.execute(query, params)).all())

    async def event_organizer(self, event_id: uuid.UUID) -> uuid.UUID | None:
        organizer: uuid.UUID | None = await self.session.scalar(
            text("SELECT organizer_id FROM events WHERE id = :id"), {"id": event_id}
        )
        return organizer

    async def status_counts(self, f: Filter) -> dict[str, int]:
        return {row.status: row.bookings for row in await self._rows(_STATUS_COUNTS, f.params())}

    async def confirmed_by_currency(self, f: Filter) -> list[tuple[str, int, int, int]]:
        """Per currency: revenue, tickets sold and, of the revenue, booking fees."""
        rows = await self._rows(_CONFIRMED_BY_CURRENCY, f.params())
        return [(row.currency, int(row.revenue), int(row.tickets), int(row.fees)) for row in rows]

    async def daily_counts(self, f: Filter) -> list[tuple[date, int, int, int]]:
        rows = await self._rows(_DAILY_COUNTS, f.params())
        return [(row.day, row.created, row.confirmed, row.cancelled) for row in rows]

    async def daily_revenue(self, f: Filter) -> list[tuple[date, str, int]]:
        rows = await self._rows(_DAILY_REVENUE, f.params())
        return [(row.day, row.currency, int(row.revenue)) for row in rows]

    async def utilization(self, f: Filter, limit: int) -> list[Any]:
        scope = {"event_id": f.event_id, "organizer_id": f.organizer_id, "limit": limit}
        return await self._rows(_UTILIZATION, scope)

    async def top_events(self, f: Filter, limit: int) -> list[Any]:
        return await self._rows(_TOP_EVENTS, {**f.params(), "limit": limit})

    async def overview(self) -> list[tuple[str, str, int]]:
        return [(row.kind, row.key, row.n) for row in await self._rows(_OVERVIEW, {})]
