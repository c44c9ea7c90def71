import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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

    async def snapshot_venue(self, showtime_id: uuid.UUID, venue_id: uuid.UUID) -> int:
        """Create the showtime's units from the venue's current layout; returns the count."""
        result = await self.session.execute(
            _SNAPSHOT_SQL, {"showtime_id": showtime_id, "venue_id": venue_id}
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
