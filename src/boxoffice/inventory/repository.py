import uuid
from collections.abc import Sequence

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.inventory.claim_repository import CLAIMABLE

# Reserved sections: one unit per seat. General admission: one unit per place, so buyers
# claim different rows (SKIP LOCKED) instead of all updating one counter.
_SNAPSHOT_SQL = text(
    """
    INSERT INTO inventory_units (showtime_id, section_id, seat_id, ga_slot, state)
    SELECT CAST(:showtime_id AS uuid), s.section_id, s.id, NULL, 'available'
      FROM seats s
      JOIN sections sec ON sec.id = s.section_id
     WHERE sec.venue_id = :venue_id AND sec.kind = 'reserved'
    UNION ALL
    SELECT CAST(:showtime_id AS uuid), sec.id, NULL, slot, 'available'
      FROM sections sec
     CROSS JOIN LATERAL generate_series(1, sec.capacity) AS slot
     WHERE sec.venue_id = :venue_id AND sec.kind = 'general_admission'
    """
)


class InventoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def showtime_organizer(self, showtime_id: uuid.UUID) -> uuid.UUID | None:
        """The organizer owning the showtime's event (None: no such showtime)."""
        found: uuid.UUID | None = await self.session.scalar(
            text(
                "SELECT e.organizer_id FROM showtimes s JOIN events e ON e.id = s.event_id"
                " WHERE s.id = :id"
            ),
            {"id": showtime_id},
        )
        return found

    async def snapshot_venue(self, showtime_id: uuid.UUID, venue_id: uuid.UUID) -> int:
        """Create the showtime's units from the venue's current layout; returns the count."""
        result = await self.session.execute(
            _SNAPSHOT_SQL, {"showtime_id": showtime_id, "venue_id": venue_id}
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Read-only queries for other domains (catalog). A unit counts as available when it may be
# claimed (`CLAIMABLE`: free, or held by a hold that has expired; expiry is lazy), as taken
# when sold or held by a live hold.
_TAKEN_SQL = "(u.state = 'sold' OR (u.state = 'held' AND u.held_until >= now()))"


def _sales_where(column: str) -> TextClause:
    return text(
        f"""
        SELECT EXISTS (
          SELECT 1 FROM inventory_units u JOIN showtimes s ON s.id = u.showtime_id
           WHERE s.{column} = :key AND {_TAKEN_SQL})
        """  # noqa: S608 - constant SQL fragments only
    )


_SALES_AT_VENUE = _sales_where("venue_id")
_SALES_OF_EVENT = _sales_where("event_id")


class InventoryReadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def venue_has_sales(self, venue_id: uuid.UUID) -> bool:
        """Whether any showtime at the venue has sold units or units under a live hold."""
        return await self._has_sales(_SALES_AT_VENUE, venue_id)

    async def event_has_sales(self, event_id: uuid.UUID) -> bool:
        """Whether any showtime of the event has sold units or units under a live hold."""
        return await self._has_sales(_SALES_OF_EVENT, event_id)

    async def _has_sales(self, statement: TextClause, key: uuid.UUID) -> bool:
        return bool(await self.session.scalar(statement, {"key": key}))

    async def availability(
        self, showtime_ids: Sequence[uuid.UUID]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[int, int]]:
        """(showtime, section) -> (units, available units), in one aggregated query."""
        if not showtime_ids:
            return {}
        rows = await self.session.execute(
            text(
                f"""
                SELECT u.showtime_id, u.section_id, count(*) AS units,
                       count(*) FILTER (WHERE {CLAIMABLE}) AS available
                  FROM inventory_units u
                 WHERE u.showtime_id = ANY(:ids)
                 GROUP BY u.showtime_id, u.section_id
                """  # noqa: S608 - constant SQL fragments only
            ),
            {"ids": list(showtime_ids)},
        )
        return {(r.showtime_id, r.section_id): (r.units, r.available) for r in rows}
