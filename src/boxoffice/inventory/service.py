import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.inventory.repository import InventoryReadRepository, InventoryRepository


async def create_showtime_inventory(
    session: AsyncSession, showtime_id: uuid.UUID, venue_id: uuid.UUID
) -> int:
    """Snapshot the venue's layout into the showtime's sellable units."""
    return await InventoryRepository(session).snapshot_venue(showtime_id, venue_id)


async def venue_has_sales(session: AsyncSession, venue_id: uuid.UUID) -> bool:
    """Whether a showtime at the venue has sold units or units under a live hold."""
    return await InventoryReadRepository(session).venue_has_sales(venue_id)


async def event_has_sales(session: AsyncSession, event_id: uuid.UUID) -> bool:
    """Whether a showtime of the event has sold units or units under a live hold."""
    return await InventoryReadRepository(session).event_has_sales(event_id)


async def showtime_availability(
    session: AsyncSession, showtime_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[int, int]]:
    """(showtime id, section id) -> (units, available units); expired holds count as free."""
    return await InventoryReadRepository(session).availability(showtime_ids)
